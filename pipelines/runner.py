"""Join sources, capture threads, the selective pipelines and the event bus.

Exports :class:`RunSummary` and :func:`run_sources`.

This is the one place where the pieces meet::

    MultiCapture (one capture thread per source)
        └─► batch of ready frames, at most one per source
              └─► per-source SelectivePipeline.push: which frames need encoding
                    └─► one encoder call for the fresh frames of every source
                          └─► per-source SelectivePipeline.complete: predict → drift → decode-on-fire
                                └─► publish: caption (and embedding) events
                                      ├─ before: ``snapshot`` names the caption's picture (console)
                                      └─ after: ``follow`` gets it with its seq (the vlm decoder)
                                      └─► follow: the published caption to the vlm decoder's worker
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipelines.progress import Progress
from pipelines.selective import ClipResult, SelectivePipeline
from streamer.feed.events import embedding_event, stats_event
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.multicapture import MultiCapture

__all__ = ["RunSummary", "run_sources"]

# How long the loop waits for a frame before checking whether every source has ended.
_POLL_S = 0.5


@dataclass(frozen=True)
class RunSummary:
    """What one source's run did. ``media_s`` is the media time analysed; ``wall_s`` the time
    the whole run took, so ``realtime_factor`` is a lower bound when sources share the CPU."""

    source: str
    frames: int
    clips: int
    captions: int
    media_s: float
    wall_s: float
    dropped_frames: int
    step_p50_ms: float
    step_p95_ms: float
    error: str | None
    interrupted: bool = False
    encoder: dict | None = None  # which model ran: {"network", "runtime", "provider"} (ModelStack.encoder_info)

    @property
    def caption_ratio(self) -> float:
        return self.captions / self.clips if self.clips else 0.0

    @property
    def realtime_factor(self) -> float:
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            **vars(self),
            "caption_ratio": round(self.caption_ratio, 4),
            "realtime_factor": round(self.realtime_factor, 3),
        }


def run_sources(
    capture: MultiCapture,
    pipelines: Mapping[str, SelectivePipeline],
    encode_frames: Callable,
    publish: Callable[[dict], object],
    *,
    embeddings: bool = False,
    stats_interval_s: float = 0.0,
    progress: Progress | None = None,
    follow: Callable[[Mapping, ClipResult], None] | None = None,
    decoder_stats: Callable[[str], dict | None] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    snapshot: Callable[[str, float, tuple[Frame, ...]], str | None] | None = None,
) -> list[RunSummary]:
    """Analyse every source of ``capture`` until all have ended or Ctrl-C (or SIGTERM, with
    :func:`~streamer.capture.signals.sigterm_as_interrupt`); return a summary for each source.

    ``pipelines`` holds one pipeline per source id. The fresh frames of all sources that had a
    frame ready are encoded in one ``encode_frames`` call. Caption events, and with
    ``embeddings`` one embedding event per clip, go to ``publish`` as they are made, so a
    source that fails later loses nothing already produced; its error is in its summary.
    Every ``stats_interval_s`` (0: never) each source publishes a ``stats`` event: its rates,
    drops, latencies and decode economy (:func:`streamer.feed.events.stats_event`), with
    ``decoder_stats(source)`` as its ``decoder`` figures. ``follow`` gets each caption as
    published (with its ``seq``) and its :class:`ClipResult` (the ``vlm`` decoder's hand-over,
    :mod:`pipelines.enrichment`); it must not block.
    ``on_frame`` sees every sampled frame (the console keeps the newest); ``snapshot(source,
    wall_time, caption_frames)`` is asked for each caption's picture and returns the reference
    the caption carries as ``snapshot`` (or None), before the caption is published.
    The caller owns ``capture`` and stops it (``with capture: …``).
    """
    run = _Run(capture, pipelines, encode_frames, publish, embeddings, follow, decoder_stats, on_frame, snapshot)
    started = next_stats = time.monotonic()
    if progress:
        progress.start()  # the same clock as the summary's wall_s
    interrupted = False
    try:
        while capture.active:
            run.step(capture.batch(timeout=_POLL_S))
            if progress:
                progress.update(run.media_s(), run.captions())
            now = time.monotonic()
            if stats_interval_s and now >= next_stats + stats_interval_s:
                next_stats = now
                run.publish_stats(wall_s=now - started)
    except KeyboardInterrupt:
        interrupted = True
    wall_s = time.monotonic() - started
    if progress:
        progress.done(run.media_s(), run.captions())
    counters = capture.counters()
    return [
        RunSummary(
            source=sid,
            frames=p.stats.frames,
            clips=p.stats.clips,
            captions=p.stats.decodes,
            media_s=round(p.stats.media_s, 3),
            wall_s=round(wall_s, 3),
            dropped_frames=counters[sid].dropped,
            step_p50_ms=round(p.stats.percentile("step_ms", 50), 3),
            step_p95_ms=round(p.stats.percentile("step_ms", 95), 3),
            error=run.errors.get(sid),
            interrupted=interrupted,
        )
        for sid, p in pipelines.items()
    ]


class _Run:
    """The state of one :func:`run_sources` call: what was reported, what failed."""

    def __init__(self, capture, pipelines, encode_frames, publish, embeddings, follow=None, decoder_stats=None, on_frame=None, snapshot=None):
        self.on_frame, self.snapshot = on_frame, snapshot
        self.capture = capture
        self.pipelines = pipelines
        self.encode_frames = encode_frames
        self.publish = publish
        self.embeddings = embeddings
        self.follow = follow
        self.decoder_stats = decoder_stats
        self.errors: dict[str, str | None] = {}
        self._reported_drops = dict.fromkeys(pipelines, 0)

    def media_s(self) -> float:
        return max(p.stats.last_t for p in self.pipelines.values())

    def captions(self) -> int:
        return sum(p.stats.decodes for p in self.pipelines.values())

    def publish_stats(self, wall_s: float) -> None:
        counters = self.capture.counters()
        for sid, pipeline in self.pipelines.items():
            decoder = self.decoder_stats(sid) if self.decoder_stats else None
            self.publish(stats_event(sid, pipeline.stats, dropped_frames=counters[sid].dropped, wall_s=wall_s, decoder=decoder))

    def step(self, batch: list[Frame | EndOfStream]) -> None:
        frames = [item for item in batch if isinstance(item, Frame)]
        for item in batch:
            if isinstance(item, EndOfStream):
                self.errors[item.source] = item.error
        if not frames:
            return
        counters = self.capture.counters()
        asked = []  # (pipeline, frames it needs encoded)
        for frame in frames:
            if self.on_frame is not None:
                self.on_frame(frame)
            pipeline = self.pipelines[frame.source]
            dropped = counters[frame.source].dropped
            asked.append((pipeline, pipeline.push(frame, dropped - self._reported_drops[frame.source])))
            self._reported_drops[frame.source] = dropped
        fresh = [f for _, todo in asked for f in todo]
        encode_start = time.perf_counter()
        features = self.encode_frames([f.image for f in fresh]) if fresh else []  # (N, F), all sources at once
        encode_ms = (time.perf_counter() - encode_start) * 1e3
        offset = 0
        for pipeline, todo in asked:
            results = pipeline.complete(features[offset : offset + len(todo)], encode_ms if todo else 0.0)
            offset += len(todo)
            for result in results:
                if self.embeddings:
                    self.publish(embedding_event(result.source, result.t_start, result.t_end, result.embedding,
                                                 drift=result.drift, threshold=result.threshold))
                if result.caption is not None:
                    event = result.caption.to_dict()
                    if self.snapshot is not None:
                        reference = self.snapshot(result.source, result.caption.wall_time, result.caption_frames)
                        if reference is not None:
                            event["snapshot"] = reference
                    sent = self.publish(event)
                    if self.follow:
                        self.follow(sent, result)
