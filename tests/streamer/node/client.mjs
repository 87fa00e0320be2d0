// An independent jepa-stream feed client (Node + ws), written from docs/PROTOCOL.md only.
// Usage: node client.mjs URL FROM_SEQ COUNT [TOKEN]
// Prints "subscribed" once the subscription is acknowledged, then COUNT events, one JSON object per line
// (binary embedding frames are decoded into their header plus "values": the float16 data as numbers).
import WebSocket from "ws";

const [url, fromSeq, count, token] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const ws = new WebSocket(url, { headers, perMessageDeflate: false });
let subscribed = false;
let printed = 0;

function float16(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function decodeEmbeddingFrame(buf) {
  // 4 bytes "JSEM", uint32 little-endian header length H, H bytes of JSON header, then dim float16 little-endian.
  if (buf.toString("ascii", 0, 4) !== "JSEM") throw new Error("bad magic");
  const headerLength = buf.readUInt32LE(4);
  const header = JSON.parse(buf.toString("utf8", 8, 8 + headerLength));
  const values = [];
  for (let offset = 8 + headerLength; offset < buf.length; offset += 2) values.push(float16(buf.readUInt16LE(offset)));
  if (values.length !== header.dim) throw new Error(`dim ${header.dim} but ${values.length} values`);
  return { ...header, values };
}

function emit(event) {
  console.log(JSON.stringify(event));
  if (++printed >= Number(count)) ws.close(1000);
}

ws.on("message", (data, isBinary) => {
  if (isBinary) {
    if (subscribed) emit(decodeEmbeddingFrame(data));
    return;
  }
  const message = JSON.parse(data.toString("utf8"));
  if (message.type === "hello") {
    if (message.protocol !== 1) throw new Error(`protocol ${message.protocol}`);
    ws.send(JSON.stringify({ v: 1, type: "subscribe", types: ["caption", "status", "embedding"],
                             from_seq: Number(fromSeq), embedding_format: "binary" }));
  } else if (message.type === "subscribed") {
    subscribed = true;
    console.log("subscribed");
  } else if (message.type === "error") {
    console.error(`error: ${message.reason}: ${message.detail}`);
    process.exitCode = 1;
  } else if (subscribed) {
    emit(message);
  }
});
ws.on("unexpected-response", (req, res) => { console.error(`HTTP ${res.statusCode}`); process.exit(3); });
ws.on("error", (err) => { console.error(String(err)); process.exit(1); });
ws.on("close", () => process.exit(process.exitCode ?? 0));
