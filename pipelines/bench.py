"""``jepa-stream bench``: selective decoding against uniform decoding, the offline Ward reference
and (optionally) a VLM that captions every clip, on the same decoded frames.

Exports :class:`BenchOptions`, :class:`VideoTrace`, :func:`match_boundaries`,
:func:`strategy_metrics`, :func:`trace_video`, :func:`run_bench` and :func:`add_bench_command`.

Each video is decoded once. Its sampled frames go through the selective pipeline, which yields
one clip embedding per stride (the stream every strategy reads) and its own captions. Then, on
that same stream:

* ``selective``: the causal drift detector's decisions (``pipelines/drift.py``);
* ``uniform_<rate>hz``: a decode every ``1 / rate`` seconds (default rates 1 and 0.5 Hz);
* ``ward_offline``: VL-JEPA's offline selective decoding with as many segments as the
  selective path decoded (the same budget), an upper bound that sees the future;
* ``selective_cosine_text`` and ``selective_segment_text``: the same detector machinery
  replayed on the same clips with the other statistics (the fixed-threshold cosine drift on
  the text-space embedding, jepa-stream 0.1's default; the segment contrast on the text-space
  embedding instead of the visual features), so the choice of statistic and stream is measured
  in every run;
* the shot-boundary detectors a user would otherwise run (:mod:`pipelines.shot_detectors`:
  PySceneDetect's content and adaptive detectors, TransNetV2), each reading the same file at
  its native frame rate; a captioner driven by them decodes at the start and at every cut;
* ``baseline_vlm`` (``--baseline vlm``): SmolVLM captions ``--baseline-clips`` clips spread over
  the video, timed one at a time after the stream pass (so its figures are not mixed with the
  selective path's on a small CPU), and the report states what captioning every clip costs.

A decode of the uniform and Ward strategies is the retrieval decoder run (and timed) on the
chosen clip's embedding. Boundary scoring: a decision matches a true boundary when it comes
between 1 s before and 2 s after it, one-to-one; start captions and heartbeats are not
boundary claims. Results go to ``DIR/report.json``, ``DIR/report.md`` and ``DIR/timeline.png``
(see :mod:`pipelines.bench_report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.drift import DriftConfig, DriftDetector, Reason, Statistic
from streamer.events import uniform_decodes
from pipelines.errors import UsageError
from pipelines.reference import MAX_WARD_CLIPS, Pick, uniform_picks, ward_picks

__all__ = [
    "BenchOptions",
    "VideoTrace",
    "match_boundaries",
    "strategy_metrics",
    "trace_video",
    "run_bench",
    "add_bench_command",
]

MATCH_BEFORE_S = 1.0
MATCH_AFTER_S = 2.0
REPORT_VERSION = 1


@dataclass(frozen=True)
class BenchOptions:
    """``uniform_rates_hz``: uniform references (default 1 and 0.5 Hz). ``ward_smooth``: samples
    of the centred moving average before Ward clustering (default 3). ``baseline_clips``: clips
    per video the baseline VLM captions, spread evenly (default 6; each is ~2 s for the 256M model
    on 2 CPU cores)."""

    uniform_rates_hz: tuple[float, ...] = (1.0, 0.5)
    ward_smooth: int = 3
    baseline_clips: int = 6
    peers: bool = True


@dataclass
class VideoTrace:
    """Everything one pass over a video recorded, one entry per clip (bounded by MAX_WARD_CLIPS)."""

    name: str
    path: str
    truth: dict | None
    times: list[float] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    currents: list[np.ndarray] = field(default_factory=list)  # newest frames' embedding, per clip
    new_frames: list[np.ndarray] = field(default_factory=list)  # visual features (n, F) new in each clip
    peers: list = field(default_factory=list)  # PeerResult per shot-boundary detector
    drift: list[float] = field(default_factory=list)
    enter: list[float] = field(default_factory=list)
    exit: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    predict_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)  # encode + predict + drift
    captions: list[dict] = field(default_factory=list)  # the selective path's caption events
    caption_clip: list[int] = field(default_factory=list)  # clip index of each caption
    baseline_images: dict[int, np.ndarray] = field(default_factory=dict)  # clip index → newest frame
    media_s: float = 0.0
    wall_s: float = 0.0
    frames: int = 0
    stride_s: float = 0.5


def match_boundaries(boundaries: list[float], decisions: list[float]) -> list[tuple[float, float]]:
    """One-to-one matches ``(boundary, decision)``: each boundary, in order, takes the earliest
    free decision within ``[b - 1 s, b + 2 s]``."""
    free = sorted(decisions)
    pairs = []
    for b in sorted(boundaries):
        for t in free:
            if b - MATCH_BEFORE_S <= t <= b + MATCH_AFTER_S:
                free.remove(t)
                pairs.append((b, t))
                break
    return pairs


def _pct(values, qs=(50, 95, 99)) -> dict:
    if len(values) == 0:
        return {f"p{q}": None for q in qs}
    a = np.asarray(values, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in qs}


def strategy_metrics(
    decode_times: list[float],
    boundary_claims: list[float],
    truth: dict | None,
    media_s: float,
    stages: dict[str, list[float]],
) -> dict:
    """The figures of one strategy on one video (or pooled): counts, rate, boundary P/R/F1, lag
    and per-stage latency percentiles."""
    out: dict = {
        "decodes": len(decode_times),
        "decode_rate_hz": round(len(decode_times) / media_s, 4) if media_s > 0 else 0.0,
        "boundary_claims": len(boundary_claims),
    }
    if truth is not None:
        boundaries = [b for b in truth["boundaries"] if b <= media_s + MATCH_AFTER_S]
        pairs = match_boundaries(boundaries, boundary_claims)
        tp = len(pairs)
        precision = tp / len(boundary_claims) if boundary_claims else (1.0 if not boundaries else 0.0)
        recall = tp / len(boundaries) if boundaries else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        lags = [t - b for b, t in pairs]
        out.update(
            boundaries=len(boundaries),
            matched=tp,
            precision=round(precision, 4),
            recall=round(recall, 4),
            f1=round(f1, 4),
            lag_s=round(float(np.median(lags)), 3) if lags else None,
        )
    else:
        out.update(boundaries=None, matched=None, precision=None, recall=None, f1=None, lag_s=None)
    out["latency_ms"] = {stage: _pct(v) for stage, v in stages.items()}
    return out


def _read_truth(path: Path) -> dict:

    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ground truth ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON (line {exc.lineno})") from None
    b = data.get("boundaries") if isinstance(data, dict) else None
    if not isinstance(b, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b):
        raise UsageError(f'{path}: expected {{"boundaries": [seconds, …], "duration": seconds}}')
    return {"boundaries": sorted(float(x) for x in b), "duration": data.get("duration")}


def trace_video(path: str | Path, config, models, options: BenchOptions, truth: dict | None = None, progress=None) -> VideoTrace:
    """Decode ``path`` once and run the selective pipeline over it, recording every clip."""
    from pipelines.selective import SelectivePipeline
    from streamer.sources import VideoFileSource

    path = Path(path)
    name = path.stem or "video"
    source = VideoFileSource(path, source_id=name, sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    timer = {"encode": 0.0, "predict": 0.0}

    def timed(fn, key):
        if fn is None:
            return None

        def wrapper(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            timer[key] += (time.perf_counter() - t0) * 1e3
            return out

        return wrapper

    timed_models = dataclasses.replace(
        models,
        encode_frames=timed(models.encode_frames, "encode") if models.encode_frames else None,
        predict=timed(models.predict, "predict"),
        **({"encode_clip": timed(models.encode_clip, "encode")} if getattr(models, "encode_clip", None) else {}),
    )
    pipeline = SelectivePipeline(name, timed_models, config.clip, config.drift)
    trace = VideoTrace(name, str(path), truth, stride_s=config.clip.stride_s)
    expected = (source.duration or 0.0) / config.clip.stride_s
    every = max(1, math.ceil(expected / options.baseline_clips)) if options.baseline_clips and expected else 1
    last_frame = None
    started = time.perf_counter()
    try:
        for frame in source.frames():
            results = pipeline.feed(frame)
            if results:
                share = {k: v / len(results) for k, v in timer.items()}
                timer.update(encode=0.0, predict=0.0)
                for r in results:
                    i = len(trace.times)
                    if i >= MAX_WARD_CLIPS:
                        from pipelines.config import ConfigError

                        raise ConfigError(f"{path}: more than {MAX_WARD_CLIPS} clips; bench a shorter video")
                    trace.times.append(r.t_end)
                    trace.embeddings.append(r.embedding.astype(np.float32))
                    trace.currents.append(r.current.astype(np.float32))
                    trace.new_frames.append(r.new_frames.astype(np.float32))
                    trace.drift.append(r.drift)
                    trace.enter.append(pipeline.detector.enter_threshold)
                    trace.exit.append(pipeline.detector.exit_threshold)
                    trace.encode_ms.append(share["encode"])
                    trace.predict_ms.append(share["predict"])
                    trace.step_ms.append(r.step_ms)
                    if r.caption is not None:
                        trace.captions.append(r.caption.to_dict())
                        trace.caption_clip.append(i)
                    if options.baseline_clips and i % every == every // 2 and last_frame is not None and len(trace.baseline_images) < options.baseline_clips:
                        trace.baseline_images[i] = last_frame.image
            last_frame = frame
            if progress:
                progress.update(pipeline.stats.last_t, pipeline.stats.decodes)
    finally:
        source.close()
    trace.wall_s = time.perf_counter() - started
    trace.media_s = pipeline.stats.media_s
    trace.frames = pipeline.stats.frames
    if progress:
        progress.done(pipeline.stats.last_t, pipeline.stats.decodes)
        if not progress.tty:  # a log gets one closing line per video, however short the run
            progress.stream.write(
                f"{name}: {trace.media_s:.1f} s done, {pipeline.stats.decodes} captions, "
                f"{trace.media_s / max(trace.wall_s, 1e-9):.1f}x real time\n"
            )
            progress.stream.flush()
    return trace


def _decode_picks(models, trace: VideoTrace, picks: list[Pick]) -> list[float]:
    """Run (and time) the retrieval decoder on each picked clip's embedding; ms per decode."""
    out = []
    for p in picks:
        t0 = time.perf_counter()
        models.decoder.decode(trace.embeddings[p.index])
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _detector_variants(drift: DriftConfig) -> dict[str, DriftConfig]:
    """The other statistics, with the configured machinery (cooldown, heartbeat, debounce)."""
    return {
        "selective_cosine_text": dataclasses.replace(drift, statistic=Statistic.COSINE, threshold=None, adaptive_min=0.08, adaptive_max=0.5),
        "selective_segment_text": dataclasses.replace(drift, statistic=Statistic.SEGMENT, threshold=None),
    }


def _replay(trace: VideoTrace, drift: DriftConfig, visual: bool) -> list:
    """The decisions a detector with ``drift`` makes on the recorded clips (text-space stream
    unless ``visual``)."""
    detector = DriftDetector(drift)
    out = []
    for t, e, c, f in zip(trace.times, trace.embeddings, trace.currents, trace.new_frames):
        decision = detector.feed(t, e, current=c, frames=f if visual else c[None])
        if decision is not None:
            out.append(decision)
    return out


def _strategies(models, trace: VideoTrace, options: BenchOptions, config_drift: DriftConfig) -> tuple[dict, dict]:
    """Per-strategy raw records ``{name: {"decodes": [t], "claims": [t], "stages": {…}}}`` and extras."""
    times = np.asarray(trace.times)
    enc, pred, step = trace.encode_ms, trace.predict_ms, trace.step_ms
    drift_ms = [max(0.0, s - e - p) for s, e, p in zip(step, enc, pred)]
    fired = dict(zip(trace.caption_clip, trace.captions))
    sel_decode = [c["latency_ms"]["decode"] for c in trace.captions]
    sel_total = [s + (fired[i]["latency_ms"]["decode"] if i in fired else 0.0) for i, s in enumerate(step)]
    raw = {
        "selective": {
            "decodes": [c["t"] for c in trace.captions],
            "claims": [c["t"] for c in trace.captions if c["reason"] == "change"],
            "stages": {"encode": enc, "predict": pred, "drift": drift_ms, "decode": sel_decode, "total": sel_total},
            "reasons": [c["reason"] for c in trace.captions],
        }
    }
    for rate in options.uniform_rates_hz:
        picks = uniform_picks(times, rate)
        dec = _decode_picks(models, trace, picks)
        picked = dict(zip((p.index for p in picks), dec))
        raw[f"uniform_{rate:g}hz"] = {
            "decodes": [p.t for p in picks],
            "claims": [p.t for p in picks if p.boundary],
            "stages": {"encode": enc, "predict": pred, "decode": dec, "total": [e + p + picked.get(i, 0.0) for i, (e, p) in enumerate(zip(enc, pred))]},
        }
    for name, variant in _detector_variants(config_drift).items():
        decisions = _replay(trace, variant, visual=False)
        raw[name] = {
            "decodes": [d.t for d in decisions],
            "claims": [d.t for d in decisions if d.reason is Reason.CHANGE],
            "stages": {},
        }
    for peer in trace.peers:
        if peer.skipped is None:
            first = [float(times[0])] if len(times) else []
            raw[peer.name] = {"decodes": first + peer.cuts, "claims": list(peer.cuts), "stages": {}, "wall_s": peer.wall_s}
    t0 = time.perf_counter()
    picks, segments = ward_picks(times, np.asarray(trace.embeddings), max(1, len(trace.captions)), options.ward_smooth) if len(times) else ([], [])
    segment_ms = (time.perf_counter() - t0) * 1e3
    dec = _decode_picks(models, trace, picks)
    picked = dict(zip((p.index for p in picks), dec))
    raw["ward_offline"] = {
        "decodes": [float(times[p.index]) for p in picks],
        "claims": [p.t for p in picks if p.boundary],
        "stages": {"encode": enc, "predict": pred, "decode": dec, "total": [e + p + picked.get(i, 0.0) for i, (e, p) in enumerate(zip(enc, pred))]},
        "segment_ms": segment_ms,
    }
    return raw, {"ward_segments": [(float(times[s]), float(times[e - 1])) for s, e in segments]}


def _baseline_pass(vlm, traces: list[VideoTrace], progress_stream) -> dict[str, list]:
    """Caption the clips kept for the baseline, one at a time; per-video lists of captions."""
    out: dict[str, list] = {}
    total = sum(len(t.baseline_images) for t in traces)
    done = 0
    for trace in traces:
        rows = []
        for i, image in sorted(trace.baseline_images.items()):
            c = vlm.caption([image])
            rows.append({"clip": i, "t": trace.times[i], "text": c.text, "prefill_ms": c.prefill_ms, "decode_ms": c.decode_ms, "total_ms": c.total_ms})
            done += 1
            progress_stream.write(f"baseline VLM ({vlm.weights} weights): {done}/{total} captions, last {c.total_ms / 1e3:.1f} s\n")
            progress_stream.flush()
        out[trace.name] = rows
    return out


def _baseline_report(vlm, rows: list[dict], clips: int, media_s: float, stride_s: float, selective: dict) -> dict:
    total = [r["total_ms"] for r in rows]
    p50 = float(np.median(total)) if total else None
    sel_caption = selective.get("caption_total_ms_p50")
    report = {
        **vlm.describe(),
        "strategy": "caption every clip",
        "captions_timed": len(rows),
        "decodes": clips,
        "decode_rate_hz": round(clips / media_s, 4) if media_s > 0 else 0.0,
        "latency_ms": {"prefill": _pct([r["prefill_ms"] for r in rows]), "decode": _pct([r["decode_ms"] for r in rows]), "total": _pct(total)},
        "per_caption_ms": round(p50, 3) if p50 is not None else None,
        "compute_s_every_clip": round(p50 * clips / 1e3, 3) if p50 is not None else None,
        "keeps_up_with_stream": (p50 / 1e3 <= stride_s) if p50 is not None else None,
        "live_clip_coverage": round(min(1.0, stride_s / (p50 / 1e3)), 4) if p50 else None,
        "selective_cheaper_per_caption": round(p50 / sel_caption, 2) if p50 and sel_caption else None,
        "selective_cheaper_whole_stream": round(p50 * clips / selective["compute_ms"], 2) if p50 and selective.get("compute_ms") else None,
        "samples": [{"t": round(r["t"], 3), "text": r["text"]} for r in rows[:3]],
    }
    return report


def _video_report(trace: VideoTrace, raw: dict, extras: dict, statistic: str) -> dict:
    strategies = {
        name: strategy_metrics(r["decodes"], r["claims"], trace.truth, trace.media_s, r["stages"]) for name, r in raw.items()
    }
    for name, r in raw.items():
        if "wall_s" in r:
            strategies[name]["wall_s"] = round(r["wall_s"], 3)
    sel = strategies["selective"]
    sel["reasons"] = {k: raw["selective"]["reasons"].count(k) for k in ("start", "change", "heartbeat")}
    step = trace.step_ms
    sel["step_ms"] = _pct(step)  # encode + predict + drift, every clip: the per-sample cost
    sel["drift_max"] = round(max(trace.drift, default=0.0), 4)  # against the enter threshold: the margin
    caption_totals = [c["latency_ms"]["total"] for c in trace.captions]
    sel["caption_total_ms_p50"] = round(float(np.median(caption_totals)), 3) if caption_totals else None
    sel["compute_ms"] = round(float(np.sum(step) + np.sum([c["latency_ms"]["decode"] for c in trace.captions])), 3)
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


def _pooled(traces: list[VideoTrace], raws: list[dict]) -> dict:
    """Strategy figures over all videos together (boundary counts pooled, latencies pooled)."""
    names = list(raws[0])
    out = {}
    for name in names:
        decodes = sum(len(r[name]["decodes"]) for r in raws)
        media = sum(t.media_s for t in traces)
        stages: dict[str, list] = {}
        for r in raws:
            for stage, v in r[name]["stages"].items():
                stages.setdefault(stage, []).extend(v)
        fig = {"decodes": decodes, "decode_rate_hz": round(decodes / media, 4) if media else 0.0}
        with_truth = [(t, r) for t, r in zip(traces, raws) if t.truth is not None]
        if with_truth:
            tp = claims = bounds = 0
            lags = []
            for t, r in with_truth:
                bs = [b for b in t.truth["boundaries"] if b <= t.media_s + MATCH_AFTER_S]
                pairs = match_boundaries(bs, r[name]["claims"])
                tp += len(pairs)
                claims += len(r[name]["claims"])
                bounds += len(bs)
                lags += [d - b for b, d in pairs]
            p = tp / claims if claims else (1.0 if not bounds else 0.0)
            rc = tp / bounds if bounds else 1.0
            fig.update(
                boundaries=bounds, matched=tp, precision=round(p, 4), recall=round(rc, 4),
                f1=round(2 * p * rc / (p + rc), 4) if p + rc else 0.0,
                lag_s=round(float(np.median(lags)), 3) if lags else None,
            )
        fig["latency_ms"] = {stage: _pct(v) for stage, v in stages.items()}
        out[name] = fig
    return out


def run_bench(videos: list[str], truths: list[dict | None], out_dir: Path, config, options: BenchOptions, baseline=None, stream=None) -> dict:
    """Bench ``videos`` (with their ground truths, or None) and write the report files to
    ``out_dir``. ``baseline`` is a :class:`~models.baseline_vlm.BaselineVLMConfig` or None."""
    from pipelines.bench_report import write_markdown, write_timeline
    from pipelines.config import ConfigError
    from pipelines.profiles import build_models
    from pipelines.progress import Progress

    stream = stream or sys.stderr
    load = _loadavg()
    vlm, vlm_load_s = None, 0.0
    if baseline is not None:  # loaded first, so that weights that cannot load fail before the long pass
        from models.baseline_vlm import load_baseline_vlm

        t0 = time.perf_counter()
        try:
            vlm = load_baseline_vlm(baseline)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        vlm_load_s = time.perf_counter() - t0
    t_models = time.perf_counter()
    models = build_models(config.model)
    models_s = time.perf_counter() - t_models
    traces = []
    for path, truth in zip(videos, truths):
        from streamer.sources import VideoFileSource

        probe = VideoFileSource(path, sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
        probe.open()
        duration = probe.duration
        probe.close()
        traces.append(trace_video(path, config, models, options, truth, Progress(Path(path).stem or "video", duration, stream=stream)))
    if options.peers:  # after every selective pass, so their CPU use is not mixed into its timings
        from pipelines.shot_detectors import run_peers

        for trace in traces:
            trace.peers = run_peers(trace.path)
            stream.write(f"{trace.name}: peers " + ", ".join(f"{p.name} {len(p.cuts)} cuts in {p.wall_s:.1f} s" if p.skipped is None else f"{p.name} skipped ({p.skipped})" for p in trace.peers) + "\n")
            stream.flush()
    raws, reports = [], []
    for trace in traces:
        raw, extras = _strategies(models, trace, options, config.drift)
        raws.append(raw)
        reports.append(_video_report(trace, raw, extras, config.drift.statistic.value))
    media = sum(t.media_s for t in traces)
    wall = sum(t.wall_s for t in traces)
    overall = _pooled(traces, raws)
    sel_decodes = overall["selective"]["decodes"]
    report = {
        "version": REPORT_VERSION,
        "generated_by": "jepa-stream bench",
        "machine": {"cpus": os.cpu_count(), "torch_threads": _torch_threads(), "loadavg_start": load, "loadavg_end": _loadavg()},
        "profile": config.model.profile,
        "encoder": getattr(models, "encoder", config.model.profile),
        "model_load_s": round(models_s, 3),
        "settings": {
            "sampling": dataclasses.asdict(config.sampling),
            "clip": dataclasses.asdict(config.clip),
            "drift": {k: (v.value if hasattr(v, "value") else v) for k, v in dataclasses.asdict(config.drift).items()},
            "uniform_rates_hz": list(options.uniform_rates_hz),
            "ward_smooth": options.ward_smooth,
            "ward_segments": "as many as the selective path decoded (same budget)",
            "boundary_match_s": [-MATCH_BEFORE_S, MATCH_AFTER_S],
            "peers": {p.name: (p.skipped or "ran") for p in traces[0].peers} if traces else {},
        },
        "media_s": round(media, 3),
        "wall_s": round(wall, 3),
        "realtime_factor": round(media / wall, 3) if wall > 0 else None,
        "decode_reduction": round(overall.get("uniform_1hz", {}).get("decodes", 0) / sel_decodes, 3) if sel_decodes else None,
        "strategies": overall,
        "videos": reports,
        "baseline_vlm": None,
    }
    report["strategies"]["selective"]["step_ms"] = _pct([s for t in traces for s in t.step_ms])
    caption_totals = [c["latency_ms"]["total"] for t in traces for c in t.captions]
    report["strategies"]["selective"]["caption_total_ms_p50"] = round(float(np.median(caption_totals)), 3) if caption_totals else None
    report["strategies"]["selective"]["compute_ms"] = round(sum(r["strategies"]["selective"]["compute_ms"] for r in reports), 3)
    if vlm is not None:
        rows = _baseline_pass(vlm, traces, stream)
        for rep, trace in zip(reports, traces):
            rep["baseline_vlm"] = _baseline_report(vlm, rows[trace.name], len(trace.times), trace.media_s, trace.stride_s, rep["strategies"]["selective"])
        all_rows = [r for t in traces for r in rows[t.name]]
        report["baseline_vlm"] = {
            **_baseline_report(vlm, all_rows, sum(len(t.times) for t in traces), media, traces[0].stride_s, report["strategies"]["selective"]),
            "load_s": round(vlm_load_s, 3),
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out_dir / "report.md")
    write_timeline(traces, reports, out_dir / "timeline.png")
    return report


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


# --- command line ------------------------------------------------------------------------------


def add_bench_command(sub) -> None:
    """Register ``jepa-stream bench`` on the CLI's subparsers."""
    from pipelines.baseline import add_baseline_options
    from pipelines.model_options import add_model_options

    bench = sub.add_parser(
        "bench",
        help="measure selective decoding against uniform decoding, the offline Ward reference and a VLM baseline",
        description="Decode each video once and run every strategy on the same frames; write DIR/report.json, "
        "DIR/report.md and DIR/timeline.png.",
    )
    bench.add_argument("videos", nargs="+", metavar="VIDEO", help="video files that FFmpeg can read")
    bench.add_argument("--gt", nargs="+", metavar="FILE.json", help='ground truth per video, in order: {"boundaries": [s, …], "duration": s} (default: VIDEO stem + .gt.json beside each video, when present)')
    bench.add_argument("--out", default="bench-out", metavar="DIR", help="where the report goes (default: bench-out)")
    bench.add_argument("--config", metavar="FILE", help="YAML laid over the built-in defaults (configs/default.yaml)")
    bench.add_argument("--uniform-rates", default="1,0.5", metavar="HZ,…", help="uniform reference rates in Hz (default: 1,0.5)")
    bench.add_argument("--no-peers", action="store_true", help="skip the shot-boundary detectors (PySceneDetect, TransNetV2)")
    bench.add_argument("--baseline-clips", type=int, default=6, metavar="N", help="clips per video the baseline VLM captions and times (default 6)")
    add_baseline_options(bench)
    add_model_options(bench)
    bench.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from pipelines.baseline import baseline_config
    from pipelines.config import load_config
    from pipelines.model_options import apply_model_options
    from streamer.sources import VideoFileSource

    config = apply_model_options(load_config(args.config), args)
    try:
        rates = tuple(float(x) for x in args.uniform_rates.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--uniform-rates: expected numbers like 1,0.5, got {args.uniform_rates!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise UsageError(f"--uniform-rates: rates must be positive, got {args.uniform_rates!r}")
    if 1.0 not in rates:
        rates = (1.0, *rates)  # decode_reduction is against uniform 1 Hz
    if args.baseline_clips < 1:
        raise UsageError(f"--baseline-clips: must be at least 1, got {args.baseline_clips}")
    if args.gt and len(args.gt) != len(args.videos):
        raise UsageError(f"--gt: {len(args.gt)} ground-truth files for {len(args.videos)} videos (give one per video, in order)")
    for v in args.videos:  # fail on a missing or unreadable video before loading any model
        probe = VideoFileSource(v)
        probe.open()
        probe.close()
    truths = []
    for i, v in enumerate(args.videos):
        if args.gt:
            truths.append(_read_truth(Path(args.gt[i])))
        else:
            beside = Path(v).with_name(Path(v).stem + ".gt.json")
            truths.append(_read_truth(beside) if beside.is_file() else None)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / ".write-test"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    options = BenchOptions(uniform_rates_hz=rates, baseline_clips=args.baseline_clips, peers=not args.no_peers)
    baseline = baseline_config(args)
    report = run_bench(args.videos, truths, out, config, options, baseline)
    from pipelines.bench_report import summary_lines

    for line in summary_lines(report):
        print(line)
    print(f"report: {out / 'report.json'}, {out / 'report.md'}, {out / 'timeline.png'}")
    return 0
