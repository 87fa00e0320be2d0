"""Join sources, capture threads, the selective pipelines and the event bus.

Exports :class:`RunSummary` and :func:`run_sources`.

This is the one place where the pieces meet::

    MultiCapture (one capture thread per source)
        └─► batch of ready frames, at most one per source
              ├─ minus the frames of paused sources (RunView.pause)
              ├─ observers: on_frame (the console keeps the newest)
              └─► per-source SelectivePipeline.push: which frames need encoding
                    └─► one encoder call for the fresh frames of every source
                          └─► per-source SelectivePipeline.complete: predict → drift → decode-on-fire
                                ├─ observers: on_clip (embedding events, the baseline VLM)
                                └─► publish: caption events
                                      ├─ before: observers' caption_fields (the console's snapshot)
                                      └─ after: observers' on_caption with its seq (the vlm decoder)
        └─ observers: on_step between batches (stats events, progress, the per-source pause)

Everything that attaches to a run is a :class:`~pipelines.core.observers.RunObserver`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipelines.core.observers import RunObserver, RunView
from pipelines.core.selective import SelectivePipeline
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.multicapture import MultiCapture
from streamer.feed.events import caption_event

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
    paused_frames: int = 0  # frames skipped while the source was paused (MQTT detect OFF)
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
    observers: Sequence[RunObserver] = (),
) -> list[RunSummary]:
    """Analyse every source of ``capture`` until all have ended or Ctrl-C (or SIGTERM, with
    :class:`~streamer.capture.signals.StopSignals`, which the CLI installs); return a summary for each source.

    ``pipelines`` holds one pipeline per source id. The fresh frames of all sources that had a
    frame ready are encoded in one ``encode_frames`` call. Caption events go to ``publish`` as
    they are made, so a source that fails later loses nothing already produced; its error is in
    its summary. ``observers`` see the run as :class:`~pipelines.core.observers.RunObserver` says, in
    the order given; one may change the sources (:meth:`~pipelines.core.observers.RunView.add_source`,
    ``pipelines`` must then be a dict) and hold the loop open while none is left
    (:meth:`~pipelines.core.observers.RunView.hold_open`), as a worker's camera hand-over does
    (:mod:`pipelines.worker`). A caption that ``publish`` holds back (returns None: a worker's lease
    fence) goes to no observer's ``on_caption``. The caller owns ``capture`` (``with capture: …``)
    and closes the observers.
    """
    run = _Run(capture, pipelines, encode_frames, publish, list(observers))
    for observer in run.observers:
        observer.on_start(run.view)
    interrupted = False
    try:
        while capture.active or run.view.held_open:
            run.step(capture.batch(timeout=_POLL_S))
            for observer in run.observers:
                observer.on_step(run.view)
    except KeyboardInterrupt:
        interrupted = True
    wall_s = run.view.wall_s()
    for observer in run.observers:
        observer.on_end(run.view)
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
            paused_frames=run.paused_frames.get(sid, 0),
        )
        for sid, p in pipelines.items()
    ]


class _Run:
    """The state of one :func:`run_sources` call: what was reported, what failed."""

    def __init__(self, capture, pipelines, encode_frames, publish, observers: list[RunObserver]):
        self.capture = capture
        self.pipelines = pipelines
        self.encode_frames = encode_frames
        self.publish = publish
        self.observers = observers
        self.view = RunView(capture, pipelines, observers)
        self.errors: dict[str, str | None] = {}
        self.paused_frames: dict[str, int] = {}
        self._reported_drops: dict[str, tuple[SelectivePipeline, int]] = {}  # a source added again starts at 0

    def step(self, batch: list[Frame | EndOfStream]) -> None:
        paused = self.view.paused
        frames = [item for item in batch if isinstance(item, Frame) and item.source not in paused]
        for item in batch:
            if isinstance(item, EndOfStream):
                self.errors[item.source] = item.error
            elif item.source in paused:
                self.paused_frames[item.source] = self.paused_frames.get(item.source, 0) + 1
        if not frames:
            return
        counters = self.capture.counters()
        asked = []  # (pipeline, frames it needs encoded)
        for frame in frames:
            for observer in self.observers:
                observer.on_frame(frame)
            pipeline = self.pipelines[frame.source]
            dropped = counters[frame.source].dropped
            before, reported = self._reported_drops.get(frame.source, (pipeline, 0))
            reported = reported if before is pipeline else 0
            asked.append((pipeline, pipeline.push(frame, dropped - reported)))
            self._reported_drops[frame.source] = (pipeline, dropped)
        fresh = [f for _, todo in asked for f in todo]
        encode_start = time.perf_counter()
        features = self.encode_frames([f.image for f in fresh]) if fresh else []  # (N, F), all sources at once
        encode_ms = (time.perf_counter() - encode_start) * 1e3
        offset = 0
        for pipeline, todo in asked:
            results = pipeline.complete(features[offset : offset + len(todo)], encode_ms if todo else 0.0)
            offset += len(todo)
            for result in results:
                self._report(result)

    def _report(self, result) -> None:
        """Hand one clip result to the observers, and publish its caption if it has one."""
        for observer in self.observers:
            observer.on_clip(result)
        if result.caption is None:
            return
        event = caption_event(result.caption)
        for observer in self.observers:
            event.update(observer.caption_fields(result))
        sent = self.publish(event)
        if sent is None:  # held back by a worker's lease fence: not published, so not followed
            return
        for observer in self.observers:
            observer.on_caption(sent, result)
