// The operator's console: tiles per source, drift traces, a caption timeline with snapshots,
// details on click, a filter. A feed client like any other (feed.js); pictures come over HTTP
// with the token in an Authorization header (fetch → blob URL). Event text only ever reaches the
// page through textContent, never as HTML.

import { FeedConnection } from "./feed.js";
import { DriftTrace } from "./trace.js";

const TYPES = ["caption", "status", "stats", "embedding", "enrichment", "baseline_caption", "scene"];
const TOKEN_KEY = "jepa-stream-token";
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  settings: { frame_interval_s: 2, max_captions: 500, max_trace_points: 600 },
  tiles: new Map(),  // source → {el, trace, frameUrl, captionSeq}
  captions: new Map(),  // seq → {event, el, enrichment, live, thumbUrl}
  // Enrichments whose caption the page does not hold (yet): caption_seq → event, at most
  // max_captions (the oldest go first), so one that comes before its caption is not lost.
  early: new Map(),
  stats: new Map(),  // source → newest stats event
  selected: null,
};
// Read by the browser tests: when each live caption was on screen, against its wall_time.
window.consoleMetrics = { captionLatencyMs: [] };

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

/** GET `path` with the token; a blob URL of the body, or null (404: expired or not there yet).
 * `cache`: "no-store" for newest frames; snapshots never change, the browser may keep them. */
async function fetchBlobUrl(path, cache = "default") {
  const response = await fetch(path, { headers: authHeaders(), cache });
  if (response.status === 401) { askToken("The token was refused."); return null; }
  if (!response.ok) return null;
  return URL.createObjectURL(await response.blob());
}

function setText(el, text) { el.textContent = text ?? ""; }
function count(n, noun) { return `${n} ${noun}${n === 1 ? "" : "s"}`; }
function fmt(v, digits = 2) { return typeof v === "number" ? v.toFixed(digits) : "–"; }

// ---- tiles -----------------------------------------------------------------------------------

function tile(source) {
  let t = state.tiles.get(source);
  if (t) return t;
  const el = $("tile-template").content.firstElementChild.cloneNode(true);
  el.dataset.source = source;
  setText(el.querySelector(".name"), source);
  $("tiles").append(el);
  t = { el, trace: new DriftTrace(el.querySelector(".trace"), state.settings.max_trace_points), frameUrl: null, captionSeq: null };
  state.tiles.set(source, t);
  const option = document.createElement("option");
  option.value = option.textContent = source;
  $("filter-source").append(option);
  return t;
}

function showStatus(event) {
  const el = tile(event.source).el.querySelector(".status");
  el.dataset.state = event.state;
  el.dataset.attempt = event.attempt ?? "";
  setText(el, event.state === "reconnecting" && event.attempt ? `reconnecting (attempt ${event.attempt})` : event.state);
  el.title = event.detail;
}

function showStats(event) {
  const wasVlm = usesVlm(event.source);
  state.stats.set(event.source, event);
  const el = tile(event.source).el;
  setText(el.querySelector(".economy"), `${count(event.decodes, "decode")} vs ${event.uniform_1hz_decodes} at uniform 1 Hz`);
  setText(el.querySelector(".dropped"), `· ${count(event.dropped_frames, "frame")} dropped`);
  const d = event.decoder;
  setText(el.querySelector(".vlm-budget"), d ? `· VLM ${d.spent_last_minute}` +
          (d.budget_per_minute ? `/${d.budget_per_minute} per minute` : " in the last minute (no budget)") : "");
  if (!wasVlm && usesVlm(event.source)) {  // the live captions that came before this news wait for their text
    for (const entry of state.captions.values()) if (entry.event.source === event.source) showEnrichment(entry);
    if (state.captions.get(state.selected)?.event.source === event.source) select(state.selected);
  }
  let decodes = 0, uniform = 0;
  for (const s of state.stats.values()) { decodes += s.decodes; uniform += s.uniform_1hz_decodes; }
  setText($("economy"), `decode economy: ${count(decodes, "decode")} vs ${uniform} at uniform 1 Hz` +
          (uniform ? ` (${(uniform / Math.max(decodes, 1)).toFixed(1)}× fewer)` : ""));
}

async function refreshFrames() {
  if (document.visibilityState === "visible") {
    for (const [source, t] of state.tiles) {
      const url = await fetchBlobUrl(`/frames/${encodeURIComponent(source)}.jpg`, "no-store").catch(() => null);
      if (!url) continue;
      const img = t.el.querySelector(".newest");
      if (t.frameUrl) URL.revokeObjectURL(t.frameUrl);
      t.frameUrl = img.src = url;
    }
  }
  setTimeout(refreshFrames, state.settings.frame_interval_s * 1000);
}

// ---- captions --------------------------------------------------------------------------------

function addCaption(event, live) {
  const t = tile(event.source);
  t.trace.decide(event.t, event.reason ?? "change");
  if (t.captionSeq === null || event.seq > t.captionSeq) {
    t.captionSeq = event.seq;
    setText(t.el.querySelector(".caption"), event.text);
  }
  const el = document.createElement("li");
  el.className = "entry";
  el.dataset.seq = event.seq;
  el.dataset.source = event.source;
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = "snapshot";
  const body = document.createElement("div");
  const text = document.createElement("div");
  text.className = "text";
  setText(text, event.text);
  const enr = document.createElement("div");
  enr.className = "enr";
  const meta = document.createElement("div");
  meta.className = "meta";
  setText(meta, `${event.source} · ${fmt(event.t, 1)} s · ${event.reason ?? ""} · drift ${fmt(event.drift)}`);
  body.append(text, enr, meta);
  el.append(img, body);
  el.addEventListener("click", () => select(event.seq));
  const entry = { event, el, enrichment: state.early.get(event.seq) ?? null, live, thumbUrl: null };
  state.early.delete(event.seq);
  state.captions.set(event.seq, entry);
  showEnrichment(entry);
  $("timeline").prepend(el);  // newest first (replayed history arrives oldest first)
  applyFilter(entry);
  thumbs.observe(img);
  while (state.captions.size > state.settings.max_captions) dropCaption(state.captions.keys().next().value);
  setText($("caption-count"), `(${state.captions.size})`);
  if (live) {
    requestAnimationFrame(() => {  // on screen at the next paint
      window.consoleMetrics.captionLatencyMs.push({ seq: event.seq, ms: performance.timeOrigin + performance.now() - event.wall_time * 1000 });
    });
  }
}

function dropCaption(seq) {
  const entry = state.captions.get(seq);
  thumbs.unobserve(entry.el.querySelector(".thumb"));
  if (entry.thumbUrl) URL.revokeObjectURL(entry.thumbUrl);
  entry.el.remove();
  state.captions.delete(seq);
}

// Thumbnails load when they scroll into view: a page opened on a long history fetches only what shows.
const thumbs = new IntersectionObserver((seen) => {
  for (const item of seen) {
    if (!item.isIntersecting) continue;
    thumbs.unobserve(item.target);
    loadThumb(state.captions.get(Number(item.target.closest(".entry").dataset.seq)));
  }
});

async function loadThumb(entry) {
  if (!entry) return;
  const img = entry.el.querySelector(".thumb");
  const url = entry.event.snapshot ? await fetchBlobUrl(entry.event.snapshot).catch(() => null) : null;
  if (!state.captions.has(entry.event.seq)) { if (url) URL.revokeObjectURL(url); return; }
  if (!url) { img.classList.add("missing"); img.alt = "no snapshot"; return; }
  entry.thumbUrl = img.src = url;
  if (state.selected === entry.event.seq) $("d-snapshot").src = url;
}

// ---- enrichments (the VLM decoder's text for an earlier caption, joined by caption_seq) --------

/** Whether the source's run uses the VLM decoder: its newest stats carry a decoder object. */
function usesVlm(source) { return state.stats.get(source)?.decoder?.type === "vlm"; }

/** Fill `el` with an enrichment: its text (with a "random weights" badge whose title is the
 * note), a short muted state with the detail, "VLM …" while a live caption of a VLM run waits,
 * or nothing. Only textContent: the text is the model's, never markup. */
function renderEnrichment(el, enr, pending) {
  const parts = [];
  if (enr) {
    const span = document.createElement("span");
    span.className = "enr-text";
    setText(span, enr.state === "done" ? enr.text : `VLM ${enr.state}${enr.detail ? ": " + enr.detail : ""}`);
    parts.push(span);
    if (enr.weights === "random") {
      const badge = document.createElement("span");
      badge.className = "badge";
      setText(badge, "random weights");
      badge.title = enr.note ?? "random weights: not language";
      parts.push(badge);
    }
  } else if (pending) {
    const span = document.createElement("span");
    span.className = "enr-text";
    setText(span, "VLM …");
    parts.push(span);
  }
  el.dataset.state = enr ? enr.state : pending ? "pending" : "";
  el.replaceChildren(...parts);
}

/** Show the entry's enrichment (or its pending state) in its timeline line, and in the tile
 * when it is the source's current caption. Pending only for captions that came live: a replayed
 * one may be of an earlier run without the VLM, and its enrichment, if any, is replayed after it. */
function showEnrichment(entry) {
  const pending = entry.live && usesVlm(entry.event.source);
  renderEnrichment(entry.el.querySelector(".enr"), entry.enrichment, pending);
  const t = tile(entry.event.source);
  if (t.captionSeq === entry.event.seq) renderEnrichment(t.el.querySelector(".enrichment"), entry.enrichment, pending);
}

function addEnrichment(event) {
  const entry = state.captions.get(event.caption_seq);
  if (!entry) {  // its caption has not come (or was dropped): keep it a while, bounded
    state.early.delete(event.caption_seq);
    state.early.set(event.caption_seq, event);
    while (state.early.size > state.settings.max_captions) state.early.delete(state.early.keys().next().value);
    return;
  }
  entry.enrichment = event;
  showEnrichment(entry);
  applyFilter(entry);
  if (state.selected === event.caption_seq) select(event.caption_seq);
}

function select(seq) {
  const entry = state.captions.get(seq);
  if (!entry) return;
  document.querySelector(".entry.selected")?.classList.remove("selected");
  entry.el.classList.add("selected");
  state.selected = seq;
  const e = entry.event, d = $("details");
  d.hidden = false;
  d.dataset.seq = seq;
  setText($("d-seq"), `#${seq}`);
  setText($("d-text"), e.text);
  const enr = entry.enrichment;
  renderEnrichment($("d-enrichment"), enr, entry.live && usesVlm(e.source));
  $("d-vlm-row").hidden = $("d-vlm").hidden = !enr;
  setText($("d-vlm"), enr ? [enr.state, enr.latency_ms === null ? null : `${fmt(enr.latency_ms, 1)} ms`,
                             enr.lag_s === null ? null : `lag ${fmt(enr.lag_s, 1)} s`,
                             enr.tokens === null ? null : count(enr.tokens, "token"), enr.weights].filter(Boolean).join(" · ") : "");
  $("d-vlm").title = enr ? `${enr.model}${enr.change ? " (asked what changed)" : ""}` : "";
  setText($("d-source"), e.source);
  setText($("d-time"), `${fmt(e.t, 2)} s (clip ${fmt(e.t_start, 2)}–${fmt(e.t_end, 2)} s)`);
  setText($("d-reason"), e.reason ?? "–");
  setText($("d-drift"), `${fmt(e.drift, 3)} / ${fmt(e.threshold, 3)}`);
  setText($("d-latency"), Object.entries(e.latency_ms).map(([k, v]) => `${k} ${fmt(v, 1)} ms`).join(", "));
  const labels = $("d-labels");
  labels.replaceChildren(...e.labels.map((l) => { const li = document.createElement("li"); setText(li, `${l.text} (${fmt(l.score, 3)})`); return li; }));
  const snap = $("d-snapshot");
  if (entry.thumbUrl) snap.src = entry.thumbUrl; else { snap.removeAttribute("src"); loadThumb(entry); }
}

// ---- filter ----------------------------------------------------------------------------------

function applyFilter(entry) {
  const text = $("filter-text").value.trim().toLowerCase(), source = $("filter-source").value;
  const haystack = [entry.event.text, entry.enrichment?.text ?? "", ...entry.event.labels.map((l) => l.text)].join(" ").toLowerCase();
  entry.el.classList.toggle("hidden", (source && entry.event.source !== source) || (text && !haystack.includes(text)));
}

const refilter = () => { for (const entry of state.captions.values()) applyFilter(entry); };
$("filter-text").addEventListener("input", refilter);
$("filter-source").addEventListener("change", refilter);

// ---- the feed and the token ------------------------------------------------------------------

function onEvent(event, live) {
  switch (event.type) {
    case "caption": addCaption(event, live); break;
    case "status": showStatus(event); break;
    case "stats": showStats(event); break;
    case "embedding": tile(event.source).trace.add(event.t, event.drift ?? null, event.threshold ?? 0); break;
    case "enrichment": addEnrichment(event); break;
    case "baseline_caption": tile(event.source); break;  // the comparison path: counted in stats only
    case "scene": tile(event.source).trace.scene(event); break;  // a span on the source's trace
  }
}

function onState(feedState, detail) {
  const el = $("feed-state");
  el.dataset.state = feedState;
  setText(el, detail ? `feed ${feedState} (${detail})` : `feed ${feedState}`);
}

const feed = new FeedConnection(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`, TYPES, 0, {
  onHello: (hello) => hello.sources.forEach(tile), onEvent, onState, refused: tokenRefused,
});

/** Whether the server refuses our token (a private route answers 401); asks for one if so.
 * False also when the server cannot be reached: the feed keeps retrying with its backoff. */
async function tokenRefused() {
  const response = await fetch("/frames/", { headers: authHeaders(), cache: "no-store" }).catch(() => null);
  if (response?.status !== 401) return false;
  askToken(state.token ? "The token was refused." : "This feed needs its token.");
  return true;
}

async function checkToken() {
  if (await tokenRefused()) return;
  $("token-form").hidden = true;
  feed.start(state.token);
}

function askToken(message) {
  feed.stop();
  onState("refused", "token needed");
  setText($("token-message"), message);
  $("token-form").hidden = false;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token-input").value;
  $("token-input").value = "";
  sessionStorage.setItem(TOKEN_KEY, state.token);
  checkToken();
});

async function main() {
  const response = await fetch("/console/settings.json").catch(() => null);
  if (response?.ok) Object.assign(state.settings, await response.json());
  feed.historySeqs = state.settings.max_captions;
  await checkToken();
  refreshFrames();
}

main();
