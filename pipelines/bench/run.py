"""One bench run: trace every video, run the peers and the strategies, assemble ``report.json``.

Exports :data:`REPORT_VERSION` and :func:`run_bench`.

The order is fixed so that timings do not mix on a small CPU: the baseline VLM is loaded first
(weights that cannot load fail before the long pass), then the models; each video is decoded
once (:func:`~pipelines.bench.trace.trace_video`); the shot-boundary detectors run after every
selective pass; then the strategies and their figures; the baseline VLM's captions come last,
and with ``--decoder vlm`` the decoder cost, VLM-on-drift against VLM-on-every-clip
(:mod:`pipelines.bench.decoder_cost`).
``report.json`` (format :data:`REPORT_VERSION`) holds the settings, the machine, the figures of
every strategy pooled over the videos and per video, and the baseline's; ``report.md`` and
``timeline.png`` are drawn from it (:mod:`pipelines.bench.report`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from pipelines.bench.baseline import baseline_pass, baseline_report, load_vlm
from pipelines.bench.metrics import (
    MATCH_AFTER_S, MATCH_BEFORE_S, captions_after_cut, compute_ms, pooled_metrics, selective_costs, strategy_metrics,
)
from pipelines.bench.options import BenchOptions
from pipelines.bench.strategies import strategy_records
from pipelines.bench.trace import VideoTrace, trace_video
from streamer.feed.events import uniform_decodes

__all__ = ["REPORT_VERSION", "run_bench"]

REPORT_VERSION = 1


def _video_report(trace: VideoTrace, raw: dict, extras: dict, statistic: str) -> dict:
    strategies = {
        name: strategy_metrics(r["decodes"], r["claims"], trace.truth, trace.media_s, r["stages"]) for name, r in raw.items()
    }
    for name, r in raw.items():
        if "wall_s" in r:
            strategies[name]["wall_s"] = round(r["wall_s"], 3)
    sel = strategies["selective"]
    costs = selective_costs([trace])
    sel["reasons"] = {k: raw["selective"]["reasons"].count(k) for k in ("start", "change", "heartbeat")}
    sel["step_ms"] = costs["step_ms"]  # encode + predict + drift, every clip: the per-sample cost
    sel["drift_max"] = round(max(trace.drift, default=0.0), 4)  # against the enter threshold: the margin
    sel["caption_total_ms_p50"] = costs["caption_total_ms_p50"]
    sel["compute_ms"] = compute_ms(trace)
    strategies["ward_offline"]["segment_ms"] = round(raw["ward_offline"]["segment_ms"], 3)
    u1 = uniform_decodes(trace.media_s)
    uniform_1hz = strategies.get("uniform_1hz", {}).get("decodes", u1)
    return {
        "video": trace.path,
        "name": trace.name,
        "ground_truth": trace.truth,
        "statistic": statistic,
        "media_s": round(trace.media_s, 3),
        "frames": trace.frames,
        "clips": len(trace.times),
        "wall_s": round(trace.wall_s, 3),
        "realtime_factor": round(trace.media_s / trace.wall_s, 3) if trace.wall_s > 0 else None,
        "decode_reduction": round(uniform_1hz / sel["decodes"], 3) if sel["decodes"] else None,
        "strategies": strategies,
        "captions": [
            {k: c[k] for k in ("t", "t_start", "t_end", "reason", "drift", "threshold", "text")} for c in trace.captions
        ],
        **extras,
    }


def run_bench(videos: list[str], truths: list[dict | None], out_dir: Path, config, options: BenchOptions, baseline=None, stream=None) -> dict:
    """Bench ``videos`` (with their ground truths, or None) and write the report files to
    ``out_dir``. ``baseline`` is a :class:`~models.vlm.VLMConfig` or None."""
    from pipelines.bench.report import write_markdown, write_timeline
    from pipelines.profiles import build_models

    stream = stream or sys.stderr
    load = _loadavg()
    vlm, vlm_load_s = load_vlm(baseline) if baseline is not None else (None, 0.0)
    decoder_vlm = _decoder_vlm(config)  # before the long pass: weights that cannot load fail first
    t_models = time.perf_counter()
    models = build_models(config.model)
    models_s = time.perf_counter() - t_models
    traces = _trace_all(videos, truths, config, models, options, stream)
    raws, reports = [], []
    for trace in traces:
        raw, extras = strategy_records(models, trace, options, config.drift)
        raws.append(raw)
        reports.append(_video_report(trace, raw, extras, config.drift.statistic.value))
    media = sum(t.media_s for t in traces)
    wall = sum(t.wall_s for t in traces)
    overall = pooled_metrics(traces, raws)
    sel_decodes = overall["selective"]["decodes"]
    report = {
        "version": REPORT_VERSION,
        "generated_by": "jepa-stream bench",
        "machine": {"cpus": os.cpu_count(), "torch_threads": _torch_threads(), "loadavg_start": load, "loadavg_end": _loadavg()},
        "profile": config.model.encoder.network,
        "encoder": getattr(models, "encoder", config.model.encoder.network),
        "model_load_s": round(models_s, 3),
        "settings": _settings(config, options, traces),
        "media_s": round(media, 3),
        "wall_s": round(wall, 3),
        "realtime_factor": round(media / wall, 3) if wall > 0 else None,
        "decode_reduction": round(overall.get("uniform_1hz", {}).get("decodes", 0) / sel_decodes, 3) if sel_decodes else None,
        "strategies": overall,
        "videos": reports,
        "baseline_vlm": None,
        "decoder_cost": None,
    }
    selective = report["strategies"]["selective"]
    selective.update(selective_costs(traces))
    selective["captions_after_cut"] = captions_after_cut(traces)
    selective["compute_ms"] = round(sum(r["strategies"]["selective"]["compute_ms"] for r in reports), 3)
    if vlm is not None:
        report["baseline_vlm"] = _baseline(vlm, vlm_load_s, traces, reports, selective, stream)
    if decoder_vlm is not None:
        from pipelines.bench.decoder_cost import decoder_cost

        report["decoder_cost"] = decoder_cost(decoder_vlm, config.model.decoder.vlm, traces, stream)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out_dir / "report.md")
    write_timeline(traces, reports, out_dir / "timeline.png")
    return report


def _trace_all(videos: list[str], truths: list[dict | None], config, models, options: BenchOptions, stream) -> list:
    """The selective pass over each video (with its progress line), then the peers' passes."""
    from pipelines.progress import Progress
    from streamer.capture.sources import VideoFileSource

    traces = []
    for path, truth in zip(videos, truths):
        probe = VideoFileSource(path, sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
        probe.open()
        duration = probe.duration
        probe.close()
        traces.append(trace_video(path, config, models, options, truth, Progress(Path(path).stem or "video", duration, stream=stream)))
    if options.peers:  # after every selective pass, so their CPU use is not mixed into its timings
        from pipelines.bench.peers import run_peers

        def say(line: str) -> None:
            stream.write(line + "\n")
            stream.flush()

        for trace in traces:
            trace.peers = run_peers(trace.path, lambda peer: say(f"{trace.name}: running peer {peer}"))
            say(f"{trace.name}: peers " + ", ".join(f"{p.name} {len(p.cuts)} cuts in {p.wall_s:.1f} s" if p.skipped is None else f"{p.name} skipped ({p.skipped})" for p in trace.peers))
    return traces


def _settings(config, options: BenchOptions, traces: list) -> dict:
    """The report's ``settings``: what the figures were measured with."""
    return {
        "sampling": dataclasses.asdict(config.sampling),
        "clip": dataclasses.asdict(config.clip),
        "drift": {k: (v.value if hasattr(v, "value") else v) for k, v in dataclasses.asdict(config.drift).items()},
        "uniform_rates_hz": list(options.uniform_rates_hz),
        "ward_smooth": options.ward_smooth,
        "ward_segments": "as many as the selective path decoded (same budget)",
        "boundary_match_s": [-MATCH_BEFORE_S, MATCH_AFTER_S],
        "peers": {p.name: (p.skipped or "ran") for p in traces[0].peers} if traces else {},
    }


def _baseline(vlm, vlm_load_s: float, traces: list, reports: list[dict], selective: dict, stream) -> dict:
    """The baseline VLM's pass over the kept clips: its figures per video (into ``reports``) and pooled."""
    rows = baseline_pass(vlm, traces, stream)
    for rep, trace in zip(reports, traces):
        rep["baseline_vlm"] = baseline_report(vlm, rows[trace.name], len(trace.times), trace.media_s, trace.stride_s, rep["strategies"]["selective"])
    all_rows = [r for t in traces for r in rows[t.name]]
    media = sum(t.media_s for t in traces)
    return {
        **baseline_report(vlm, all_rows, sum(len(t.times) for t in traces), media, traces[0].stride_s, selective),
        "load_s": round(vlm_load_s, 3),
    }


def _decoder_vlm(config):
    """The VLM of ``model.decoder.vlm`` when the decoder is ``vlm`` (else None), as a run loads it."""
    if config.model.decoder.type.value != "vlm":
        return None
    from pipelines.vlm.loader import load_decoder_vlm

    return load_decoder_vlm(config.model.decoder.vlm)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _torch_threads() -> int | None:
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return None
