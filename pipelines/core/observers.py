"""The one way to attach to a run: :class:`RunObserver`, and the observers every run may list.

Exports :class:`RunView`, :class:`RunObserver`, :class:`EmbeddingPublisher`,
:class:`StatsPublisher`, :class:`ProgressObserver`, :class:`ConsoleObserver` and :class:`PauseObserver`.

:func:`pipelines.core.runner.run_sources` calls each observer, in the order listed, on the run loop's
thread (the one that calls ``run_sources``); a hook must hand its work over and return, never
wait for a model, a disk or a socket. What attaches to a run today: the per-clip embedding
events and the periodic ``stats`` events (this module), the progress line (``replay``), the
console's newest frames and caption snapshots and the per-source pause (MQTT's ``detect`` switch)
(this module), the baseline VLM
(:mod:`pipelines.vlm.baseline`) and the ``vlm`` decoder (:mod:`pipelines.vlm.enrichment`). The
composition root (``pipelines/cli/analyse.py``) lists them as it lists the outputs.

Controls of a run: :meth:`RunObserver.on_step` runs on the loop thread between two batches of
frames, so a control is an observer whose ``on_step`` asks :class:`RunView` to do it; the controls
are methods of :class:`RunView`. Today: :meth:`RunView.pause` and :meth:`RunView.resume` (a
source, by :class:`PauseObserver`). Where later work attaches the same way: a change of the set of
sources (a worker gaining or losing cameras, applied at a clip boundary).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Mapping
from typing import TYPE_CHECKING

from pipelines.progress import Progress
from streamer.capture.frames import Frame
from streamer.feed.events import embedding_event, stats_event

if TYPE_CHECKING:
    from pipelines.core.selective import ClipResult, SelectivePipeline
    from streamer.capture.multicapture import MultiCapture
    from streamer.console.parts import ConsoleParts

__all__ = ["RunView", "RunObserver", "EmbeddingPublisher", "StatsPublisher", "ProgressObserver", "ConsoleObserver",
           "PauseObserver"]


class RunView:
    """What an observer may read of the run in progress (on the loop thread): the pipelines, the
    capture's counters, the media time analysed, the captions made, the wall time since the
    start, and the figures every observer adds to a source's ``stats`` event; and the run's
    controls (:meth:`pause`, :meth:`resume`), which only the loop thread may call."""

    def __init__(self, capture: MultiCapture, pipelines: Mapping[str, SelectivePipeline], observers: list[RunObserver]):
        self.capture, self.pipelines, self._observers = capture, pipelines, observers
        self.started = time.monotonic()
        self._paused: set[str] = set()

    @property
    def paused(self) -> frozenset[str]:
        """The sources whose frames the run drops before encoding (none at the start)."""
        return frozenset(self._paused)

    def pause(self, source: str) -> None:
        """Drop ``source``'s frames before encoding from the next batch on (its capture goes on)."""
        self._paused.add(source)

    def resume(self, source: str) -> None:
        """Analyse ``source``'s frames again from the next batch on."""
        self._paused.discard(source)

    def wall_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def media_s(self) -> float:
        """The newest media time any source reached."""
        return max(p.stats.last_t for p in self.pipelines.values())

    def captions(self) -> int:
        """Captions made so far, over every source."""
        return sum(p.stats.decodes for p in self.pipelines.values())

    def stats_fields(self, source: str) -> dict:
        """The fields every observer adds to ``source``'s ``stats`` event (:meth:`RunObserver.stats`)."""
        fields: dict = {}
        for observer in self._observers:
            fields.update(observer.stats(source))
        return fields


class RunObserver:
    """Something attached to a run; every hook does nothing unless overridden.

    The order of calls for one batch of frames: :meth:`on_frame` for each sampled frame;
    then for each clip the batch closed, :meth:`on_clip`, and when drift fired,
    :meth:`caption_fields` (before the caption is published), then :meth:`on_caption` (with the
    published event, which carries its ``seq``); then :meth:`on_step`. :meth:`on_start` comes
    before the first batch and :meth:`on_end` after the last one (also after Ctrl-C).
    :meth:`close` is the owner's: the composition root calls it when the run is over, however
    it ended, in the order that lets the last events reach the outputs.
    """

    def on_start(self, run: RunView) -> None:
        """The run starts (the same clock as the summary's ``wall_s``)."""

    def on_frame(self, frame: Frame) -> None:
        """A sampled frame, before the pipeline sees it."""

    def on_clip(self, result: ClipResult) -> None:
        """A finished clip, with its decision (every clip, captioned or not)."""

    def caption_fields(self, result: ClipResult) -> dict:
        """Fields to add to the caption event of ``result`` before it is published."""
        return {}

    def on_caption(self, event: Mapping, result: ClipResult) -> None:
        """A caption as published (with its ``seq``) and the clip it came from."""

    def on_step(self, run: RunView) -> None:
        """Between two batches, on the loop thread (about every 0.5 s at least, frames or not)."""

    def on_end(self, run: RunView) -> None:
        """The loop has ended: every source ended, or Ctrl-C."""

    def stats(self, source: str) -> dict:
        """Fields this observer adds to ``source``'s ``stats`` event (today the schema has ``decoder``)."""
        return {}

    def close(self) -> None:
        """Finish and release what the observer holds (idempotent)."""


class EmbeddingPublisher(RunObserver):
    """One ``embedding`` event per clip, through ``publish``."""

    def __init__(self, publish: Callable[[dict], object]):
        self._publish = publish

    def on_clip(self, result: ClipResult) -> None:
        self._publish(embedding_event(result.source, result.t_start, result.t_end, result.embedding,
                                      drift=result.drift, threshold=result.threshold))


class StatsPublisher(RunObserver):
    """Every ``interval_s`` (> 0) each source's ``stats`` event through ``publish``: its rates,
    drops, latencies and decode economy (:func:`streamer.feed.events.stats_event`), with the
    other observers' figures (:meth:`RunView.stats_fields`)."""

    def __init__(self, publish: Callable[[dict], object], interval_s: float):
        self._publish, self._interval_s = publish, interval_s
        self._next: float | None = None

    def on_step(self, run: RunView) -> None:
        now = time.monotonic()
        if self._next is None:
            self._next = run.started
        if now < self._next + self._interval_s:
            return
        self._next = now
        counters = run.capture.counters()
        for sid, pipeline in run.pipelines.items():
            decoder = run.stats_fields(sid).get("decoder")
            self._publish(stats_event(sid, pipeline.stats, dropped_frames=counters[sid].dropped, wall_s=now - run.started,
                                      decoder=decoder))


class ProgressObserver(RunObserver):
    """The ``replay`` progress line: media time and captions so far, then the final figures."""

    def __init__(self, progress: Progress):
        self._progress = progress

    def on_start(self, run: RunView) -> None:
        self._progress.start()

    def on_step(self, run: RunView) -> None:
        self._progress.update(run.media_s(), run.captions())

    def on_end(self, run: RunView) -> None:
        self._progress.done(run.media_s(), run.captions())


class ConsoleObserver(RunObserver):
    """The browser console's share of a run: each source's newest frame (when the page is on)
    and each caption's snapshot, whose reference the caption carries as ``snapshot`` (when
    snapshots are on; none when the writer is behind). :meth:`close` writes the queued snapshots."""

    def __init__(self, parts: ConsoleParts):
        self._parts = parts

    def on_frame(self, frame: Frame) -> None:
        if self._parts.frames is not None:
            self._parts.frames.offer(frame)

    def caption_fields(self, result: ClipResult) -> dict:
        if self._parts.snapshots is None or result.caption is None:
            return {}
        reference = self._parts.snapshots.submit(result.source, result.caption.wall_time, result.caption_frames)
        return {} if reference is None else {"snapshot": reference}

    def close(self) -> None:
        self._parts.close()


class PauseObserver(RunObserver):
    """Pauses and resumes sources as ``wanted`` says: a container of source ids that another
    thread changes (:class:`streamer.feed.controls.PausedSources`, set by MQTT's ``detect/set``),
    read at each :meth:`on_step`, so a change takes effect within one batch (about 0.5 s)."""

    def __init__(self, wanted: Container[str]):
        self._wanted = wanted

    def on_step(self, run: RunView) -> None:
        paused = run.paused
        for source in run.pipelines:
            if source in self._wanted and source not in paused:
                run.pause(source)
            elif source not in self._wanted and source in paused:
                run.resume(source)
