"""Join one source, its capture thread, the selective pipeline and the event outputs.

Exports :class:`RunSummary`, :class:`EventPublisher` and :func:`run_source`.

This is the one place where the pieces meet: source → capture thread → pipeline → publisher.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.progress import Progress
from pipelines.selective import SelectivePipeline
from streamer.capture import BufferPolicy, CaptureThread, FrameSource
from streamer.frames import EndOfStream

__all__ = ["RunSummary", "EventPublisher", "run_source"]


class EventPublisher:
    """Numbers events with a ``seq`` that only grows and hands each to every output in turn."""

    def __init__(self, outputs: list[Callable[[dict], None]]):
        self.outputs = outputs
        self.seq = 0

    def publish(self, event: dict) -> dict:
        self.seq += 1
        event = {**event, "seq": self.seq}
        for output in self.outputs:
            output(event)
        return event


@dataclass(frozen=True)
class RunSummary:
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


def run_source(
    source: FrameSource,
    pipeline: SelectivePipeline,
    publish: Callable[[dict], object],
    *,
    realtime: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Analyse ``source`` to its end (or Ctrl-C) and return what happened.

    Replay (``realtime=False``) waits for the pipeline and never drops a frame; a paced file or a
    live source drops the oldest frame when the pipeline falls behind, and the count is reported
    on the next caption. A source error ends the run: it is in the summary's ``error``, and every
    event produced before it has already been published.
    """
    policy = BufferPolicy.DROP_OLDEST if realtime else BufferPolicy.WAIT
    capture = CaptureThread(source, policy=policy, realtime=realtime)
    started = time.monotonic()
    error: str | None = None
    reported_drops = 0
    capture.start()
    try:
        for item in capture.frames():
            if isinstance(item, EndOfStream):
                error = item.error
                break
            drops, reported_drops = capture.dropped - reported_drops, capture.dropped
            for result in pipeline.feed(item, dropped_frames=drops):
                if result.caption is not None:
                    publish(result.caption.to_dict())
            if progress:
                progress.update(pipeline.stats.last_t, pipeline.stats.decodes)
    finally:
        capture.stop()
    stats = pipeline.stats
    if progress:
        progress.done(stats.last_t, stats.decodes)
    return RunSummary(
        source=pipeline.source,
        frames=stats.frames,
        clips=stats.clips,
        captions=stats.decodes,
        media_s=round(stats.media_s, 3),
        wall_s=round(time.monotonic() - started, 3),
        dropped_frames=capture.dropped,
        step_p50_ms=round(stats.percentile("step_ms", 50), 3),
        step_p95_ms=round(stats.percentile("step_ms", 95), 3),
        error=error,
    )
