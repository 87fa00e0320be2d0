"""The bench's outputs beside ``report.json``: the terminal summary, a Markdown table and the timeline figure.

Exports :func:`summary_lines`, :func:`write_markdown` and :func:`write_timeline`.

All three read the report dict that :func:`~pipelines.bench.run.run_bench` writes as
``report.json`` (the timeline also reads the traces, for the drift curve); none computes a
figure that goes into the report. ``timeline.png`` draws one row per video, at most :data:`MAX_TIMELINE_ROWS`;
``report.md`` lists every video. matplotlib is imported only when the figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["summary_lines", "write_markdown", "write_timeline"]

# Videos drawn in timeline.png (one row each); more are listed in report.md only.
MAX_TIMELINE_ROWS = 8


def _f(v, fmt="{:.3g}") -> str:
    return "–" if v is None else fmt.format(v)


def summary_lines(report: dict) -> list[str]:
    """A few lines for the terminal; the strategies' columns line up, whatever their names and figures."""
    lines = []
    width = max(map(len, report["strategies"]))
    for name, s in report["strategies"].items():
        lines.append(
            f"{name:>{width}}: {s['decodes']:5d} decodes ({s['decode_rate_hz']:.3f} Hz)  P {_f(s.get('precision')):>5}  "
            f"R {_f(s.get('recall')):>5}  F1 {_f(s.get('f1')):>5}  lag {_f(s.get('lag_s')):>5} s"
        )
    sel = report["strategies"]["selective"]
    lines.append(
        f"selective: {_f(report['decode_reduction'])}x fewer decodes than uniform 1 Hz; per-sample step "
        f"p95 {_f(sel['step_ms']['p95'])} ms; {_f(report['realtime_factor'])}x real time"
    )
    b = report.get("baseline_vlm")
    if b:
        lines.append(
            f"baseline VLM ({b['weights']} weights{'; ' + b['note'] if b['note'] else ''}): "
            f"{_f(b['per_caption_ms'], '{:.0f}')} ms per caption; selective is {_f(b['selective_cheaper_per_caption'])}x cheaper per caption"
        )
    d = report.get("decoder_cost")
    if d:
        lines.append(
            f"VLM decoder ({d['weights']} weights): on drift {_f(d['on_drift']['captions_per_min'])} texts/min, "
            f"{_f(d['on_drift']['cpu_s_per_min'])} CPU-s/min; every clip {_f(d['every_clip']['captions_per_min'])}/min, "
            f"{_f(d['every_clip']['cpu_s_per_min'])} CPU-s/min: {_f(d['cpu_ratio'])}x the CPU"
        )
    return lines


def _baseline_lines(b: dict | None) -> list[str]:
    """The report's "Baseline VLM" section (none without a baseline)."""
    if not b:
        return []
    return [
        "",
        "## Baseline VLM",
        "",
        f"- weights: **{b['weights']}** ({b['source']}){' — ' + b['note'] if b['note'] else ''}",
        f"- {b['parameters']:,} parameters; {b['max_new_tokens']} new tokens per caption; {b['image_tokens_per_frame']} image tokens per frame",
        f"- per caption: p50 {_f(b['latency_ms']['total']['p50'], '{:.0f}')} ms (prefill {_f(b['latency_ms']['prefill']['p50'], '{:.0f}')}, "
        f"decode {_f(b['latency_ms']['decode']['p50'], '{:.0f}')}), timed on {b['captions_timed']} clips",
        f"- captioning every clip ({b['decodes']}) would take {_f(b['compute_s_every_clip'])} s of compute; "
        f"keeps up with the stream: {b['keeps_up_with_stream']} (live coverage {_f(b['live_clip_coverage'])} of clips)",
        f"- the selective path is **{_f(b['selective_cheaper_per_caption'])}× cheaper per caption** and "
        f"{_f(b['selective_cheaper_whole_stream'])}× cheaper over the whole stream",
    ]


def _decoder_cost_lines(d: dict | None) -> list[str]:
    """The report's "VLM decoder cost" section (none without the vlm decoder)."""
    if not d:
        return []
    rows = (("VLM on drift", d["on_drift"], d["on_drift"]["texts"]), ("VLM on every clip", d["every_clip"], d["every_clip"]["captions_timed"]))
    return [
        "",
        "## VLM decoder cost (`--decoder vlm`)",
        "",
        f"The same model ({d['weights']} weights, {d['source']}; {d['max_new_tokens']} new tokens"
        f"{'; ' + d['note'] if d['note'] else ''}) on the same videos. CPU: {d['cpu_clock']}; every clip: "
        "CPU per caption (timed on the baseline's clips) times the clip count. Lag: decision to text at real time, "
        "simulated from the measured latencies with one pending slot (newest wins).",
        "",
        "| strategy | texts per min of video | decoder CPU-s per min of video | latency p50 ms | lag p50 / p95 s | timed |",
        "|---|---|---|---|---|---|",
        *[f"| {name} | {_f(x['captions_per_min'])} | {_f(x['cpu_s_per_min'])} | {_f(x['latency_ms']['p50'], '{:.0f}')} | "
          f"{_f(x['realtime_lag_s']['p50'])} / {_f(x['realtime_lag_s']['p95'])} | {n} |" for name, x, n in rows],
        "",
        f"VLM on every clip spends **{_f(d['cpu_ratio'])}×** the decoder CPU of VLM on drift.",
    ]


def write_markdown(report: dict, path: Path) -> None:
    """``report.md``: the pooled strategy table, the baseline VLM, then each video's table and captions."""
    out = ["# jepa-stream bench", ""]
    m = report["machine"]
    out += [
        f"Profile `{report['profile']}` ({report['encoder']}); {m['cpus']} CPUs, {m['torch_threads']} torch threads, "
        f"load average {m['loadavg_start']} → {m['loadavg_end']}.",
        f"{report['media_s']:.1f} s of video in {report['wall_s']:.1f} s: **{_f(report['realtime_factor'])}× real time**; "
        f"**{_f(report['decode_reduction'])}× fewer decodes** than uniform 1 Hz.",
        "",
        "A decision matches a true boundary when it comes between 1 s before and 2 s after it (one-to-one); "
        "start captions and heartbeats are not boundary claims. `ward_offline` sees the whole video "
        "(non-causal upper bound, same decode budget as `selective`). Latency in ms.",
        "",
        "| strategy | decodes | rate Hz | precision | recall | F1 | lag s | encode p50/p95 | predict p50/p95 | decode p50/p95 | total p50/p95/p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["strategies"].items():
        lat = s["latency_ms"]

        def pp(stage, qs=("p50", "p95")):
            return " / ".join(_f(lat.get(stage, {}).get(q)) for q in qs)

        out.append(
            f"| {name} | {s['decodes']} | {s['decode_rate_hz']:.3f} | {_f(s.get('precision'))} | {_f(s.get('recall'))} | "
            f"{_f(s.get('f1'))} | {_f(s.get('lag_s'))} | {pp('encode')} | {pp('predict')} | {pp('decode')} | {pp('total', ('p50', 'p95', 'p99'))} |"
        )
    sel = report["strategies"]["selective"]
    out += ["", f"Selective per-sample step (encode + predict + drift): p50 {_f(sel['step_ms']['p50'])}, "
            f"p95 {_f(sel['step_ms']['p95'])}, p99 {_f(sel['step_ms']['p99'])} ms; a caption costs "
            f"{_f(sel['caption_total_ms_p50'])} ms (p50, its clip's step plus the decode)."]
    cut = sel.get("captions_after_cut")
    if cut and cut["matched"]:
        out += ["", f"Change captions that describe only frames after the cut they match: {cut['after_cut']} of {cut['matched']}."]
    out += _baseline_lines(report.get("baseline_vlm")) + _decoder_cost_lines(report.get("decoder_cost"))
    out += ["", "## Videos", ""]
    for v in report["videos"]:
        s = v["strategies"]
        gt = v["ground_truth"]["boundaries"] if v["ground_truth"] else "none"
        out += [
            f"### {v['name']}",
            "",
            f"`{v['video']}`: {v['media_s']:.1f} s, {v['clips']} clips, {_f(v['realtime_factor'])}× real time, "
            f"decode reduction {_f(v['decode_reduction'])}×; true boundaries {gt}",
            "",
            "| strategy | decodes | precision | recall | F1 | lag s |",
            "|---|---|---|---|---|---|",
            *[f"| {n} | {x['decodes']} | {_f(x.get('precision'))} | {_f(x.get('recall'))} | {_f(x.get('f1'))} | {_f(x.get('lag_s'))} |" for n, x in s.items()],
            "",
            "Selective captions: " + "; ".join(f"{c['t']:.1f} s {c['reason']} ({c['drift']:.2f}) {c['text']}" for c in v["captions"]),
            "",
        ]
    path.write_text("\n".join(out) + "\n")


def write_timeline(traces, reports: list[dict], path: Path) -> None:
    """Drift over time with the enter/exit thresholds, each strategy's decodes and the true boundaries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(zip(traces, reports))[:MAX_TIMELINE_ROWS]
    fig, axes = plt.subplots(len(rows), 1, figsize=(14, 3.2 * len(rows)), squeeze=False)
    for ax, (trace, rep) in zip(axes[:, 0], rows):
        t = trace.times
        ax.plot(t, trace.drift, color="tab:blue", lw=1.2, label="drift (selective)")
        ax.step(t, trace.enter, where="post", color="tab:red", lw=0.9, ls="--", label="enter threshold")
        ax.step(t, trace.exit, where="post", color="tab:orange", lw=0.9, ls=":", label="exit threshold")
        top = max([0.3, *trace.drift, *trace.enter]) * 1.15
        if trace.truth:
            for i, b in enumerate(trace.truth["boundaries"]):
                ax.axvline(b, color="tab:green", lw=1.5, alpha=0.6, label="true boundary" if i == 0 else None)
        marks = {"start": "s", "change": "v", "heartbeat": "D"}
        for reason, marker in marks.items():
            xs = [c["t"] for c in trace.captions if c["reason"] == reason]
            if xs:
                ax.scatter(xs, [top * 0.95] * len(xs), marker=marker, color="tab:red", zorder=3, label=f"selective {reason}")
        u = rep["strategies"].get("uniform_1hz")
        if u:
            from pipelines.bench.reference import uniform_picks
            import numpy as np

            xs = [p.t for p in uniform_picks(np.asarray(t), 1.0)]
            ax.scatter(xs, [top * 0.05] * len(xs), marker="|", color="grey", label="uniform 1 Hz decode")
        wb = [s for s, _ in rep.get("ward_segments", [])[1:]]
        if wb:
            ax.scatter(wb, [top * 0.85] * len(wb), marker="x", color="tab:purple", zorder=3, label="offline Ward boundary")
        peers = [p for p in trace.peers if p.skipped is None]
        for k, (peer, color) in enumerate(zip(peers, ("tab:brown", "tab:olive", "tab:cyan"))):
            if peer.cuts:
                y = top * (0.75 - 0.1 * k)
                ax.scatter(peer.cuts, [y] * len(peer.cuts), marker="|", s=80, color=color, zorder=3, label=f"{peer.name} cut")
        ax.set_ylim(0, top)
        ax.set_xlim(0, max(t[-1] if t else 1.0, 1.0))
        ax.set_ylabel(f"drift ({rep['statistic']})")
        s = rep["strategies"]["selective"]
        ax.set_title(
            f"{trace.name}: selective {s['decodes']} decodes (R {_f(s.get('recall'))}, P {_f(s.get('precision'))}), "
            f"uniform 1 Hz {rep['strategies'].get('uniform_1hz', {}).get('decodes', '–')}"
            + "".join(f", {p.name} {len(p.cuts)} cuts" for p in peers)
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, borderaxespad=0.0)
    axes[-1, 0].set_xlabel("media time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
