// A source's live drift trace on a canvas: drift per clip, the threshold in force, each
// decision marked with its reason, and the scenes (`scene` events) as shaded spans under them,
// each with its caption; the x axis is media time, scrolling (the newest WINDOW_S seconds).
//
// Exports DriftTrace. Bounded: at most maxPoints samples, decisions and scenes are kept.

const WINDOW_S = 60, MIN_SPAN_S = 10;
const SPANS = ["rgba(88, 166, 255, 0.10)", "rgba(63, 185, 80, 0.10)"];  // alternate scenes
const COLORS = { drift: "#58a6ff", threshold: "#d29922", start: "#3fb950", change: "#f85149", heartbeat: "#a371f7", resume: "#39c5cf", grid: "#2c333d", text: "#9aa4b1" };

export class DriftTrace {
  constructor(canvas, maxPoints) {
    this.canvas = canvas;
    this.maxPoints = maxPoints;
    this.points = [];  // {t, drift, threshold}
    this.decisions = [];  // {t, reason}
    this.scenes = new Map();  // scene id → {start, end (null while open), caption}, oldest first
    this.pending = false;
  }

  /** One clip's sample; a media time that goes back (a restarted analyzer) starts a new trace. */
  add(t, drift, threshold) {
    const last = this.points[this.points.length - 1];
    if (last && t < last.t - 1) { this.points = []; this.decisions = []; this.scenes.clear(); }
    this.points.push({ t, drift, threshold });
    if (this.points.length > this.maxPoints) this.points.splice(0, this.points.length - this.maxPoints);
    this.schedule();
  }

  /** Earlier samples ([t, drift, threshold], oldest first) put before those already drawn. */
  prefill(samples) {
    const first = this.points.length ? this.points[0].t : Infinity;
    const earlier = samples.filter(([t]) => t < first).map(([t, drift, threshold]) => ({ t, drift, threshold }));
    this.points = [...earlier, ...this.points].slice(-this.maxPoints);
    this.schedule();
  }

  decide(t, reason) {
    this.decisions.push({ t, reason });
    if (this.decisions.length > this.maxPoints) this.decisions.shift();
    this.schedule();
  }

  /** A `scene` event: its span runs from start_time to end_time (to the newest sample while open). */
  scene(event) {
    this.scenes.set(event.id, { start: event.start_time, end: event.end_time, caption: event.description ?? event.caption });
    if (this.scenes.size > this.maxPoints) this.scenes.delete(this.scenes.keys().next().value);
    this.canvas.dataset.scenes = this.scenes.size;  // for tests and tools: the spans held
    this.schedule();
  }

  spans(ctx, x, tStart, tEnd, h, pad) {
    let i = 0;
    for (const s of this.scenes.values()) {
      const color = SPANS[i++ % SPANS.length], end = s.end ?? tEnd;
      if (end < tStart) continue;
      const left = x(Math.max(s.start, tStart)), width = Math.max(1, x(end) - left);
      ctx.fillStyle = color;
      ctx.fillRect(left, pad, width, h - 2 * pad);
      ctx.fillStyle = COLORS.text;
      ctx.save();
      ctx.beginPath(); ctx.rect(left, pad, width, h - 2 * pad); ctx.clip();
      ctx.fillText(s.caption, left + 3, h - pad - 3);
      ctx.restore();
    }
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { canvas } = this, ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 14;
    ctx.clearRect(0, 0, w, h);
    if (!this.points.length) return;
    // The newest WINDOW_S seconds; a young trace fills the width (at least MIN_SPAN_S) until it is that long.
    const tEnd = this.points[this.points.length - 1].t;
    const span = Math.min(WINDOW_S, Math.max(MIN_SPAN_S, tEnd - this.points[0].t)), tStart = tEnd - span;
    const visible = this.points.filter((p) => p.t >= tStart);
    const top = Math.max(1e-6, ...visible.map((p) => Math.max(p.drift ?? 0, p.threshold * 1.25)));
    const x = (t) => ((t - tStart) / span) * w;
    const y = (v) => h - pad - (v / top) * (h - 2 * pad);
    ctx.font = "10px system-ui, sans-serif";
    this.spans(ctx, x, tStart, tEnd, h, pad);
    ctx.fillStyle = COLORS.text;
    ctx.fillText(`${tEnd.toFixed(1)} s`, w - 44, h - 2);
    ctx.fillText(`${Math.max(0, tStart).toFixed(1)} s`, 2, h - 2);
    ctx.strokeStyle = COLORS.grid;
    ctx.beginPath(); ctx.moveTo(0, y(0)); ctx.lineTo(w, y(0)); ctx.stroke();
    this.line(ctx, visible, x, y, (p) => p.threshold, COLORS.threshold, [4, 3]);
    this.line(ctx, visible, x, y, (p) => p.drift, COLORS.drift, []);
    for (const d of this.decisions) {
      if (d.t < tStart) continue;
      ctx.strokeStyle = ctx.fillStyle = COLORS[d.reason] ?? COLORS.text;
      ctx.beginPath(); ctx.moveTo(x(d.t), pad); ctx.lineTo(x(d.t), h - pad); ctx.stroke();
      ctx.fillText(d.reason, Math.min(x(d.t) + 2, w - 50), pad - 3);
    }
  }

  line(ctx, points, x, y, value, color, dash) {
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let drawing = false;
    for (const p of points) {
      const v = value(p);
      if (v === null || v === undefined) { drawing = false; continue; }
      if (drawing) ctx.lineTo(x(p.t), y(v)); else ctx.moveTo(x(p.t), y(v));
      drawing = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }
}
