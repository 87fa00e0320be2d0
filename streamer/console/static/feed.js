// The page's feed client: protocol v1 over the browser's WebSocket, resuming with from_seq.
//
// Exports FeedConnection and tokenProtocol. The token (when the server wants one) travels as a
// WebSocket subprotocol, "bearer.jepa-stream." + base64url(token), beside "jepa-stream.v1"
// (browsers cannot set headers on a WebSocket, and a URL would put it in logs and history).
// Reconnects with backoff (0.25 s doubling to 10 s, reset by a hello) and resumes from the last
// seq it handed on, so no caption or status event is lost across a reconnect, nor handed on twice.

export const SUBPROTOCOL = "jepa-stream.v1";
const BACKOFF_FIRST_MS = 250, BACKOFF_MAX_MS = 10000;

/** The subprotocol entry that carries `token` (unpadded base64url of its UTF-8 bytes). */
export function tokenProtocol(token) {
  const bytes = new TextEncoder().encode(token);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return "bearer.jepa-stream." + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export class FeedConnection {
  /**
   * url: ws:// URL of the feed. types: the event types wanted (only those the server's hello
   * lists are asked for). historySeqs: on the first connection, replay logged events from
   * hello.last_seq - historySeqs. handlers: onHello(hello), onEvent(event, live),
   * onState(state, detail), refused() → Promise<bool> (asked when a connection closed before its
   * hello: true when the token is the reason, and the page then asks for it instead of retrying).
   */
  constructor(url, types, historySeqs, handlers) {
    Object.assign(this, { url, types, historySeqs, handlers });
    this.token = null;
    this.lastSeq = null;  // the last seq handed on; null until the first subscription
    this.liveAfter = Infinity;  // seqs above this arrived live (not replayed)
    this.delay = BACKOFF_FIRST_MS;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
  }

  start(token) {
    this.token = token;
    this.stop();
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
  }

  connect() {
    const protocols = this.token ? [SUBPROTOCOL, tokenProtocol(this.token)] : [SUBPROTOCOL];
    const ws = this.ws = new WebSocket(this.url, protocols);
    // Until our subscribe takes effect the server sends the default subscription's live events;
    // our from_seq replays them, so (as streamer/feed/client.py does) they are not handed on twice.
    let greeted = false, subscribed = false;
    this.handlers.onState(this.attempt ? "reconnecting" : "connecting", this.attempt ? `attempt ${this.attempt}` : "");
    ws.onmessage = (message) => {
      if (typeof message.data !== "string") return;  // binary frames: never asked for
      const event = JSON.parse(message.data);
      if (event.type === "hello") {
        greeted = true;
        this.delay = BACKOFF_FIRST_MS;
        this.attempt = 0;
        this.handlers.onHello(event);
        ws.send(JSON.stringify(this.subscription(event)));
      } else if (event.type === "subscribed") {
        subscribed = true;
        this.liveAfter = event.last_seq;
        this.handlers.onState("live", "");
      } else if (event.type === "error" || event.type === "lagging") {
        console.warn("feed:", event.type, event.detail ?? event.dropped);
      } else if (subscribed) {
        if (event.seq !== undefined) this.lastSeq = event.seq;
        this.handlers.onEvent(event, event.seq === undefined || event.seq > this.liveAfter);
      }
    };
    ws.onclose = async (close) => {
      this.ws = null;
      if (!greeted && await this.handlers.refused()) return;  // the page asks for a token instead
      if (this.ws || this.stopped) return;  // started again meanwhile
      this.attempt += 1;
      this.handlers.onState("reconnecting", `closed ${close.code}; attempt ${this.attempt} in ${(this.delay / 1000).toFixed(1)} s`);
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    };
  }

  subscription(hello) {
    const types = this.types.filter((t) => hello.types.includes(t));
    let from = this.lastSeq;
    if (from === null) {  // first connection: recent history, then live
      from = Math.max(0, hello.last_seq - this.historySeqs, (hello.first_seq ?? 1) - 1);
      this.lastSeq = from;
    }
    return { v: 1, type: "subscribe", types, from_seq: from };
  }
}
