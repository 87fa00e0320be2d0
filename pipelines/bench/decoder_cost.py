"""The bench's decoder cost (``bench --decoder vlm``): VLM-on-drift against VLM-on-every-clip.

Exports :func:`realtime_lags` and :func:`decoder_cost`.

Both sides run the same model (``model.decoder.vlm``) through the same
:class:`~pipelines.vlm.worker.VLMWorker`, each under its admission, after every stream pass, so
their CPU use is not mixed into the selective path's timings; the CPU clock is the worker
thread's (``time.thread_time``):

* **on drift**: every selective caption of the trace through the ``vlm`` decoder
  (:class:`~pipelines.vlm.enrichment.EnrichmentObserver`, admission "on caption": its newest frame,
  the "what changed" prompt against the previous caption's frame, the per-source budget), handed
  over one at a time;
* **every clip**: the clips the baseline times (``BenchOptions.baseline_clips`` per video, spread
  evenly), one at a time under the admission "every clip" (their newest frame, the one-frame
  prompt, the decoder's time limit), CPU per caption then multiplied by the clip count, as the
  baseline's figures are.

Figures per minute of video: captions (texts) and decoder CPU-seconds. The lag from decision to
text at real time is simulated from the measured latencies (:func:`realtime_lags`), with the
worker's policy: one pending slot, the newest request wins.
"""

from __future__ import annotations

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


def _on_drift(vlm, config, requests, timeout: float) -> list[dict]:
    """Hand ``requests`` ((caption dict, ClipResult)) to a fresh ``vlm`` decoder one at a time; its events."""
    from pipelines.vlm.enrichment import EnrichmentObserver

    events: list[dict] = []
    decoder = EnrichmentObserver(vlm, events.append, config).start()
    for caption, result in requests:
        decoder.follow(caption, result)
        if not decoder.worker.wait_idle(timeout):
            break
    decoder.finish(wait_s=0.0)
    return events


def _every_clip(vlm, config, source: str, clips: list[tuple[float, np.ndarray]], timeout: float) -> list:
    """Caption ``clips`` ((t, image)) one at a time under "every clip" with the decoder's
    one-frame prompt, time limit and niceness; their :class:`~pipelines.vlm.worker.VLMResult` s."""
    from pipelines.vlm.admission import ClipJob, EveryClip
    from pipelines.vlm.worker import caption_each
    from streamer.worker import OverflowPolicy

    jobs = (ClipJob(source, t, t, (image,), time.monotonic(), config.prompt) for t, image in clips)
    return list(caption_each(vlm, EveryClip(1, OverflowPolicy.WAIT), jobs, max_time_s=config.timeout_s, nice=config.nice,
                             wait_s=timeout))


def _request(source: str, seq: int, t: float, drift: float, image: np.ndarray):
    from pipelines.core.selective import ClipResult
    from streamer.capture.frames import Frame

    frame = Frame(source, seq, t, time.time(), image)
    return ({"source": source, "seq": seq, "t": t, "drift": drift},
            ClipResult(source, t, t, np.zeros(1, np.float32), drift, threshold=0.0, step_ms=0.0, caption=None, caption_frames=(frame,)))


def decoder_cost(vlm, config, traces: list[VideoTrace], stream) -> dict:
    """VLM-on-drift against VLM-on-every-clip over ``traces`` (``config``: the
    :class:`~pipelines.decoder_config.VLMDecoderConfig`); the report's ``decoder_cost``."""
    timeout = 4 * config.timeout_s + 10
    drift_events, every_events, lags = [], [], {"drift": [], "every": []}
    clips = sum(len(t.times) for t in traces)
    media_min = sum(t.media_s for t in traces) / 60
    for trace in traces:
        requests = [_request(trace.name, i + 1, c["t"], c["drift"] or 0.0, trace.caption_images[i]) for i, c in enumerate(trace.captions)]
        stream.write(f"{trace.name}: VLM on drift, {len(requests)} captions\n")
        stream.flush()
        events = _on_drift(vlm, config, requests, timeout)
        drift_events += events
        done = [e for e in events if e["state"] == "done"]
        _, lag = realtime_lags([e["t"] for e in done], [e["latency_ms"] / 1e3 for e in done])
        lags["drift"] += lag
        sample = sorted(trace.baseline_images.items())
        stream.write(f"{trace.name}: VLM on every clip, {len(sample)} clips timed of {len(trace.times)}\n")
        stream.flush()
        results = _every_clip(vlm, config, trace.name, [(trace.times[i], im) for i, im in sample], timeout)
        every_events += results
        per = [r.latency_ms / 1e3 for r in results if r.state == "done"]
        if per:  # every clip of the video at real time, each taking a measured latency in turn
            _, lag = realtime_lags(trace.times, [per[i % len(per)] for i in range(len(trace.times))])
            lags["every"] += lag
    done_drift = [e for e in drift_events if e["state"] == "done"]
    done_every = [r for r in every_events if r.state == "done"]
    cpu_drift = sum(e["cpu_s"] or 0.0 for e in drift_events)
    cpu_every_each = float(np.mean([r.cpu_s for r in done_every])) if done_every else None
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
            "latency_ms": percentiles([r.latency_ms for r in done_every]),
            "realtime_lag_s": percentiles(lags["every"]),
            "realtime_served": len(lags["every"]),
        },
    }
    d, e = out["on_drift"]["cpu_s_per_min"], out["every_clip"]["cpu_s_per_min"]
    out["cpu_ratio"] = round(e / d, 2) if d and e else None
    return out
