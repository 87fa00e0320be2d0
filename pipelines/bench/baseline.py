"""The bench's baseline VLM: what captioning every clip would cost, beside the selective path.

Exports :func:`load_vlm`, :func:`baseline_pass` and :func:`baseline_report`.

The VLM (``--baseline vlm``, :mod:`models.vlm`) is loaded before the stream pass, so
weights that cannot load fail before any video is analysed. It then captions the few clips the
trace kept (``BenchOptions.baseline_clips`` per video, spread evenly), one at a time through the
VLM worker (:func:`pipelines.vlm.worker.caption_each`, the admission "every clip") after every
stream pass, so its CPU use is not mixed into the selective path's timings. From those timings
:func:`baseline_report` extrapolates to every clip: the compute it would take, whether it keeps up
with the clip stride, and how much cheaper the selective path is per caption and over the stream.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from pipelines.bench.trace import VideoTrace
from pipelines.percentiles import percentiles

__all__ = ["load_vlm", "baseline_pass", "baseline_report"]

log = logging.getLogger(__name__)


def load_vlm(baseline) -> tuple[object, float]:
    """Load the VLM of ``baseline`` (a :class:`~models.vlm.VLMConfig`);
    returns it and its load time in s. Weights that cannot load are a
    :class:`~pipelines.errors.UsageError` (:func:`pipelines.vlm.loader.open_vlm`)."""
    from pipelines.vlm.loader import open_vlm

    t0 = time.perf_counter()
    vlm = open_vlm(baseline)
    return vlm, time.perf_counter() - t0


def baseline_pass(vlm, traces: list[VideoTrace], progress_stream) -> dict[str, list]:
    """Caption the clips kept for the baseline through the VLM worker under "every clip" (the
    baseline's admission, with ``wait``: nothing dropped), one at a time; per-video lists of
    captions (a clip whose caption failed has none; the failure is logged)."""
    from pipelines.vlm.admission import ClipJob, EveryClip
    from pipelines.vlm.worker import caption_each
    from streamer.worker import OverflowPolicy

    kept = [(trace, i) for trace in traces for i in sorted(trace.baseline_images)]
    jobs = (ClipJob(trace.name, trace.times[i], trace.times[i], (trace.baseline_images[i],), time.monotonic()) for trace, i in kept)
    out: dict[str, list] = {trace.name: [] for trace in traces}
    results = caption_each(vlm, EveryClip(1, OverflowPolicy.WAIT), jobs)  # first in zip: it ends, and closes its worker
    for done, (r, (trace, i)) in enumerate(zip(results, kept), 1):
        if r.caption is None:
            log.error("baseline caption failed at %.2f s: %s", r.job.t_end, r.error)
            continue
        c = r.caption
        out[trace.name].append({"clip": i, "t": trace.times[i], "text": c.text, "prefill_ms": c.prefill_ms, "decode_ms": c.decode_ms, "total_ms": c.total_ms})
        progress_stream.write(f"baseline VLM ({vlm.weights} weights): {done}/{len(kept)} captions, last {c.total_ms / 1e3:.1f} s\n")
        progress_stream.flush()
    return out


def baseline_report(vlm, rows: list[dict], clips: int, media_s: float, stride_s: float, selective: dict) -> dict:
    """The baseline's figures from its timed ``rows``, for ``clips`` clips over ``media_s``,
    beside the ``selective`` strategy's figures of the same videos."""
    total = [r["total_ms"] for r in rows]
    p50 = float(np.median(total)) if total else None
    sel_caption = selective.get("caption_total_ms_p50")
    return {
        **vlm.describe(),
        "strategy": "caption every clip",
        "captions_timed": len(rows),
        "decodes": clips,
        "decode_rate_hz": round(clips / media_s, 4) if media_s > 0 else 0.0,
        "latency_ms": {"prefill": percentiles([r["prefill_ms"] for r in rows]), "decode": percentiles([r["decode_ms"] for r in rows]), "total": percentiles(total)},
        "per_caption_ms": round(p50, 3) if p50 is not None else None,
        "compute_s_every_clip": round(p50 * clips / 1e3, 3) if p50 is not None else None,
        "keeps_up_with_stream": (p50 / 1e3 <= stride_s) if p50 is not None else None,
        "live_clip_coverage": round(min(1.0, stride_s / (p50 / 1e3)), 4) if p50 else None,
        "selective_cheaper_per_caption": round(p50 / sel_caption, 2) if p50 and sel_caption else None,
        "selective_cheaper_whole_stream": round(p50 * clips / selective["compute_ms"], 2) if p50 and selective.get("compute_ms") else None,
        "samples": [{"t": round(r["t"], 3), "text": r["text"]} for r in rows[:3]],
    }
