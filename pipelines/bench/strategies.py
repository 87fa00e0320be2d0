"""The strategies the bench compares, each run on one video's trace: when it decodes, and why.

Exports :func:`detector_variants`, :func:`replay` and :func:`strategy_records`.

Every strategy reads the same recorded clips (:class:`~pipelines.bench.trace.VideoTrace`):

* ``selective``: the causal drift detector's decisions, as the pipeline made them live;
* ``uniform_<rate>hz``: a decode every ``1 / rate`` seconds (:func:`~pipelines.bench.reference.uniform_picks`);
* ``selective_segment`` (the segment statistic on the visual features, the default before
  ``memory``; skipped when it is the configured statistic), ``selective_cosine_text`` and
  ``selective_segment_text``: the same detector machinery (cooldown, heartbeat, debounce)
  replayed with the other statistics, the last two on the text-space stream
  (:func:`detector_variants`);
* one record per shot-boundary detector that ran (:mod:`pipelines.bench.peers`): a captioner
  driven by it decodes at the first clip and at every cut;
* ``ward_offline``: VL-JEPA's offline selective decoding with as many segments as the selective
  path decoded (the same budget), an upper bound that sees the future.

A decode of the uniform and Ward strategies is the retrieval decoder run (and timed) on the
chosen clip's embedding; the replayed detectors and the peers are not timed stage by stage.
Start captions and heartbeats are decodes but not boundary claims.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from pipelines.bench.options import BenchOptions
from pipelines.bench.reference import Pick, uniform_picks, ward_picks
from pipelines.bench.trace import VideoTrace
from pipelines.core.drift import DriftConfig, DriftDetector, Reason, Statistic

__all__ = ["detector_variants", "replay", "strategy_records"]


def _decode_picks(models, trace: VideoTrace, picks: list[Pick]) -> list[float]:
    """Run (and time) the retrieval decoder on each picked clip's embedding; ms per decode."""
    out = []
    for p in picks:
        t0 = time.perf_counter()
        models.decoder.decode(trace.embeddings[p.index])
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def detector_variants(drift: DriftConfig) -> dict[str, tuple[DriftConfig, bool]]:
    """The other statistics, with the configured machinery (cooldown, heartbeat, debounce), and
    whether each reads the visual features (else the text-space stream)."""
    return {
        "selective_segment": (dataclasses.replace(drift, statistic=Statistic.SEGMENT, threshold=None), True),
        "selective_cosine_text": (dataclasses.replace(drift, statistic=Statistic.COSINE, threshold=None, adaptive_min=None, adaptive_max=None), False),
        "selective_segment_text": (dataclasses.replace(drift, statistic=Statistic.SEGMENT, threshold=None), False),
    }


def replay(trace: VideoTrace, drift: DriftConfig, visual: bool) -> list:
    """The decisions a detector with ``drift`` makes on the recorded clips (text-space stream
    unless ``visual``)."""
    detector = DriftDetector(drift)
    out = []
    for t, e, c, f in zip(trace.times, trace.embeddings, trace.currents, trace.new_frames):
        decision = detector.feed(t, e, current=c, frames=f if visual else c[None])
        if decision is not None:
            out.append(decision)
    return out


def strategy_records(models, trace: VideoTrace, options: BenchOptions, config_drift: DriftConfig) -> tuple[dict, dict]:
    """Per-strategy raw records ``{name: {"decodes": [t], "claims": [t], "stages": {stage: [ms]}}}``
    (``selective`` adds ``"reasons"``, a peer ``"wall_s"``, ``ward_offline`` ``"segment_ms"``) and
    the extras for the video's report (``{"ward_segments": [(t_start, t_end)]}``)."""
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
    for name, (variant, visual) in detector_variants(config_drift).items():
        if variant.statistic is config_drift.statistic and visual:
            continue  # that is the selective path itself
        decisions = replay(trace, variant, visual=visual)
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
