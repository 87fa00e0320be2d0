"""The bench's decoder cost (``bench --decoder vlm``): VLM-on-drift against VLM-on-every-clip.

Exports :func:`realtime_lags` and :func:`decoder_cost`.

Both sides run the same model through the same :class:`~pipelines.vlm.enrichment.EnrichmentWorker`
(``model.decoder.vlm``), after every stream pass, so their CPU use is not mixed into the
selective path's timings; the CPU clock is the worker thread's (``time.thread_time``):

* **on drift**: every selective caption of the trace (its newest frame, the "what changed"
  prompt against the previous caption's frame, the per-source budget), handed over one at a time;
* **every clip**: the clips the baseline times (``BenchOptions.baseline_clips`` per video, spread
  evenly; their newest frame, the one-frame prompt, no budget), CPU per caption then multiplied by
  the clip count, as the baseline's figures are.

Figures per minute of video: captions (texts) and decoder CPU-seconds. The lag from decision to
text at real time is simulated from the measured latencies (:func:`realtime_lags`), with the
worker's policy: one pending slot, the newest request wins.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from pipelines.bench.trace import VideoTrace
from pipelines.percentiles import percentiles

__all__ = ["realtime_lags", "decoder_cost"]


def realtime_lags(times: list[float], latencies: list[float]) -> tuple[list[int], list[float]]:
    """The requests a one-slot, newest-wins worker serves at real time, and their lags (s).

    ``times`` are the decision times (s, increasing); ``latencies[i]`` how long request ``i``
    takes. A request that arrives while the worker is busy waits in the slot until a newer one
    replaces it. Returns the indices served and, for each, the seconds from its decision to its
    text."""
    served, lags = [], []
    free_at, pending = float("-inf"), None
    for i, t in enumerate([*times, float("inf")]):
        while pending is not None and free_at <= t:  # the worker takes the waiting request when free
            start = max(free_at, times[pending])
            free_at = start + latencies[pending]
            served.append(pending)
            lags.append(free_at - times[pending])
            pending = None
        if i == len(times):
            break
        if free_at <= t:
            free_at = t + latencies[i]
            served.append(i)
            lags.append(latencies[i])
        else:
            pending = i  # replaces an older waiting request
    return served, lags


class _Texts:
    def __init__(self):
        self.events: list[dict] = []
        self._cond = threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        return event

    def wait_for(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.events) >= n, timeout)


def _run(vlm, config, requests, timeout: float) -> list[dict]:
    """Hand ``requests`` ((caption dict, ClipResult)) to a fresh worker one at a time; their events."""
    from pipelines.vlm.enrichment import EnrichmentWorker

    texts = _Texts()
    worker = EnrichmentWorker(vlm, texts, config).start()
    for n, (caption, result) in enumerate(requests, 1):
        worker.follow(caption, result)
        if not texts.wait_for(n, timeout):
            break
    worker.close(wait_s=0.0)
    return texts.events


def _request(source: str, seq: int, t: float, drift: float, image: np.ndarray):
    from pipelines.core.selective import ClipResult
    from streamer.capture.frames import Frame

    frame = Frame(source, seq, t, time.time(), image)
    return ({"source": source, "seq": seq, "t": t, "drift": drift},
            ClipResult(source, t, t, np.zeros(1, np.float32), drift, threshold=0.0, step_ms=0.0, caption=None, caption_frames=(frame,)))


def decoder_cost(vlm, config, traces: list[VideoTrace], stream) -> dict:
    """VLM-on-drift against VLM-on-every-clip over ``traces`` (``config``: the
    :class:`~pipelines.decoder_config.VLMDecoderConfig`); the report's ``decoder_cost``."""
    import dataclasses

    every_config = dataclasses.replace(config, change_prompt="", max_per_minute=0.0)
    timeout = 4 * config.timeout_s + 10
    drift_events, every_events, lags = [], [], {"drift": [], "every": []}
    clips = sum(len(t.times) for t in traces)
    media_min = sum(t.media_s for t in traces) / 60
    for trace in traces:
        requests = [_request(trace.name, i + 1, c["t"], c["drift"] or 0.0, trace.caption_images[i]) for i, c in enumerate(trace.captions)]
        stream.write(f"{trace.name}: VLM on drift, {len(requests)} captions\n")
        stream.flush()
        events = _run(vlm, config, requests, timeout)
        drift_events += events
        done = [e for e in events if e["state"] == "done"]
        _, lag = realtime_lags([e["t"] for e in done], [e["latency_ms"] / 1e3 for e in done])
        lags["drift"] += lag
        sample = sorted(trace.baseline_images.items())
        stream.write(f"{trace.name}: VLM on every clip, {len(sample)} clips timed of {len(trace.times)}\n")
        stream.flush()
        events = _run(vlm, every_config, [_request(trace.name, i + 1, trace.times[i], 0.0, im) for i, im in sample], timeout)
        every_events += events
        per = [e["latency_ms"] / 1e3 for e in events if e["state"] == "done"]
        if per:  # every clip of the video at real time, each taking a measured latency in turn
            _, lag = realtime_lags(trace.times, [per[i % len(per)] for i in range(len(trace.times))])
            lags["every"] += lag
    done_drift = [e for e in drift_events if e["state"] == "done"]
    done_every = [e for e in every_events if e["state"] == "done"]
    cpu_drift = sum(e["cpu_s"] or 0.0 for e in drift_events)
    cpu_every_each = float(np.mean([e["cpu_s"] for e in done_every])) if done_every else None
    out = {
        **{k: vlm.describe()[k] for k in ("weights", "source", "note", "max_new_tokens")},
        "cpu_clock": "thread_time of the decoder's worker thread",
        "on_drift": {
            "decisions": sum(len(t.captions) for t in traces),
            "texts": len(done_drift),
            "states": {k: sum(e["state"] == k for e in drift_events) for k in ("done", "failed", "timeout", "skipped")},
            "captions_per_min": round(len(done_drift) / media_min, 3) if media_min else None,
            "cpu_s_per_min": round(cpu_drift / media_min, 3) if media_min else None,
            "latency_ms": percentiles([e["latency_ms"] for e in done_drift]),
            "realtime_lag_s": percentiles(lags["drift"]),
        },
        "every_clip": {
            "clips": clips,
            "captions_timed": len(done_every),
            "captions_per_min": round(clips / media_min, 3) if media_min else None,
            "cpu_s_per_caption": round(cpu_every_each, 4) if cpu_every_each is not None else None,
            "cpu_s_per_min": round(cpu_every_each * clips / media_min, 3) if cpu_every_each is not None and media_min else None,
            "latency_ms": percentiles([e["latency_ms"] for e in done_every]),
            "realtime_lag_s": percentiles(lags["every"]),
            "realtime_served": len(lags["every"]),
        },
    }
    d, e = out["on_drift"]["cpu_s_per_min"], out["every_clip"]["cpu_s_per_min"]
    out["cpu_ratio"] = round(e / d, 2) if d and e else None
    return out
