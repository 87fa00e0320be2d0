"""The bench's figures: decode counts and rates, boundary precision/recall/F1 and lag, latencies.

Exports :data:`MATCH_BEFORE_S`, :data:`MATCH_AFTER_S`, :func:`match_boundaries`,
:func:`scorable_boundaries`, :func:`boundary_scores`, :func:`strategy_metrics`,
:func:`pooled_metrics`, :func:`selective_costs`, :func:`captions_after_cut` and :func:`compute_ms`.

Boundary scoring: a decision matches a true boundary when it comes between
:data:`MATCH_BEFORE_S` (1 s) before and :data:`MATCH_AFTER_S` (2 s) after it, one-to-one (each
boundary, in order, takes the earliest free decision in its window). Only boundaries a decision
could still match count: those at most 2 s after the last clip. Precision is matched / claims
(1.0 with no claims and no boundaries, 0.0 with no claims but boundaries), recall is matched /
boundaries (1.0 when there are none), lag is the median of decision − boundary over the matches.
Over several videos (:func:`pooled_metrics`) the counts and lags are pooled, not the ratios
averaged; :func:`boundary_scores` is the one place all of this is computed. Latencies are
p50/p95/p99 in ms (:mod:`pipelines.percentiles`), rounded to 3 decimals; rates to 4.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipelines.percentiles import percentiles

if TYPE_CHECKING:
    from pipelines.bench.trace import VideoTrace

__all__ = [
    "MATCH_BEFORE_S",
    "MATCH_AFTER_S",
    "match_boundaries",
    "scorable_boundaries",
    "boundary_scores",
    "strategy_metrics",
    "pooled_metrics",
    "selective_costs",
    "captions_after_cut",
    "compute_ms",
]

MATCH_BEFORE_S = 1.0
MATCH_AFTER_S = 2.0

# The boundary figures, in report order; all None for a video without ground truth.
BOUNDARY_KEYS = ("boundaries", "matched", "precision", "recall", "f1", "lag_s")


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


def scorable_boundaries(truth: dict, media_s: float) -> list[float]:
    """The true boundaries of ``truth`` that a decision within ``media_s`` could match."""
    return [b for b in truth["boundaries"] if b <= media_s + MATCH_AFTER_S]


def boundary_scores(videos: Iterable[tuple[list[float], list[float]]]) -> dict:
    """Boundary figures of one strategy over ``videos``, each ``(true boundaries, boundary
    claims)``: counts and lags pooled, then ``boundaries``, ``matched``, ``precision``,
    ``recall``, ``f1`` and ``lag_s`` (median, None without a match)."""
    tp = claims = bounds = 0
    lags: list[float] = []
    for boundaries, claimed in videos:
        pairs = match_boundaries(boundaries, claimed)
        tp += len(pairs)
        claims += len(claimed)
        bounds += len(boundaries)
        lags += [t - b for b, t in pairs]
    precision = tp / claims if claims else (1.0 if not bounds else 0.0)
    recall = tp / bounds if bounds else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "boundaries": bounds,
        "matched": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "lag_s": round(float(np.median(lags)), 3) if lags else None,
    }


def _rate(decodes: int, media_s: float) -> float:
    return round(decodes / media_s, 4) if media_s > 0 else 0.0


def _latencies(stages: dict[str, list[float]]) -> dict:
    return {stage: percentiles(v) for stage, v in stages.items()}


def strategy_metrics(
    decode_times: list[float],
    boundary_claims: list[float],
    truth: dict | None,
    media_s: float,
    stages: dict[str, list[float]],
) -> dict:
    """The figures of one strategy on one video: counts, rate, boundary P/R/F1, lag (each None
    without ground truth) and per-stage latency percentiles."""
    out: dict = {
        "decodes": len(decode_times),
        "decode_rate_hz": _rate(len(decode_times), media_s),
        "boundary_claims": len(boundary_claims),
    }
    if truth is not None:
        out.update(boundary_scores([(scorable_boundaries(truth, media_s), boundary_claims)]))
    else:
        out.update(dict.fromkeys(BOUNDARY_KEYS))
    out["latency_ms"] = _latencies(stages)
    return out


def pooled_metrics(traces: Sequence[VideoTrace], raws: Sequence[dict]) -> dict:
    """Strategy figures over all videos together: decodes, rate, boundary figures pooled over
    the videos that have ground truth (absent when none has), latencies pooled. ``raws`` are the
    per-video records of :func:`~pipelines.bench.strategies.strategy_records`, in ``traces`` order."""
    media = sum(t.media_s for t in traces)
    with_truth = [(t, r) for t, r in zip(traces, raws) if t.truth is not None]
    out = {}
    for name in raws[0]:
        decodes = sum(len(r[name]["decodes"]) for r in raws)
        stages: dict[str, list] = {}
        for r in raws:
            for stage, v in r[name]["stages"].items():
                stages.setdefault(stage, []).extend(v)
        fig = {"decodes": decodes, "decode_rate_hz": _rate(decodes, media)}
        if with_truth:
            fig.update(boundary_scores((scorable_boundaries(t.truth, t.media_s), r[name]["claims"]) for t, r in with_truth))
        fig["latency_ms"] = _latencies(stages)
        out[name] = fig
    return out


def selective_costs(traces: Sequence[VideoTrace]) -> dict:
    """What the selective path cost over ``traces``: ``step_ms``, percentiles of the per-sample
    step (encode + predict + drift, every clip), and ``caption_total_ms_p50``, the median cost of
    a caption (its clip's step plus the decode; None without captions)."""
    caption_totals = [c["latency_ms"]["total"] for t in traces for c in t.captions]
    return {
        "step_ms": percentiles([s for t in traces for s in t.step_ms]),
        "caption_total_ms_p50": round(float(np.median(caption_totals)), 3) if caption_totals else None,
    }


def captions_after_cut(traces: Sequence[VideoTrace]) -> dict:
    """Of the selective path's ``change`` captions that match a true boundary (``matched``), how
    many describe only frames after it (``after_cut``: their ``t_start`` at or after the
    boundary). A caption whose window still holds the shot before can name what was, not what is."""
    matched = after = 0
    for trace in traces:
        if trace.truth is None:
            continue
        changes = {c["t"]: c for c in trace.captions if c["reason"] == "change"}
        for boundary, t in match_boundaries(scorable_boundaries(trace.truth, trace.media_s), list(changes)):
            matched += 1
            after += changes[t]["t_start"] >= boundary - 1e-6
    return {"matched": matched, "after_cut": after}


def compute_ms(trace: VideoTrace) -> float:
    """The selective path's whole compute on one video: every clip's step plus every decode (ms)."""
    return round(float(np.sum(trace.step_ms) + np.sum([c["latency_ms"]["decode"] for c in trace.captions])), 3)
