"""The capture thread: a source decoded on its own thread into a bounded buffer.

Exports :class:`BufferPolicy` and :class:`CaptureThread`.

The consumer iterates :meth:`CaptureThread.frames`; the stream always ends with exactly one
:class:`~streamer.capture.frames.EndOfStream`, which carries the source's error (if any) and how many
frames the buffer policy dropped.
"""

from __future__ import annotations

import dataclasses

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Protocol

from streamer.capture.frames import EndOfStream, Frame, SourceError
from streamer.capture.source_spec import redact

__all__ = ["BufferPolicy", "CaptureThread", "FrameSource"]

log = logging.getLogger(__name__)


class BufferPolicy(str, Enum):
    """What the capture thread does when the buffer is full."""

    WAIT = "wait"  # the reader waits: nothing is lost (file replay)
    DROP_OLDEST = "drop_oldest"  # the newest frame wins: live sources never fall behind


class FrameSource(Protocol):
    source_id: str

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class CaptureThread:
    """Runs ``source.frames()`` on a daemon thread into a queue of at most ``buffer_size`` frames.

    ``realtime`` paces frames to their media timestamps (as a live camera would deliver them).
    :meth:`stop` asks the thread to finish; it closes the source and ends the queue within one
    frame's decode time. ``on_ready``, if given, is called on the capture thread after each
    frame or the end marker is queued (a fan-in uses it to wake its reader).
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        buffer_size: int = 32,
        policy: BufferPolicy = BufferPolicy.WAIT,
        realtime: bool = False,
        on_ready: Callable[[], None] | None = None,
    ):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
        self.source = source
        self.policy = BufferPolicy(policy)
        self.realtime = realtime
        self.dropped = 0
        self._resume_dropped = False  # the last dropped frame was the first after a reconnect
        self.captured = 0  # frames put in the buffer (dropped ones included)
        self._on_ready = on_ready
        self._queue: queue.Queue[Frame | EndOfStream] = queue.Queue(maxsize=buffer_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.source_id}", daemon=True)

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        """Whether the thread is still running (it finishes after :meth:`stop` or the end marker)."""
        return self._thread.is_alive()

    def frames(self) -> Iterator[Frame | EndOfStream]:
        """Yield frames in order, then the single :class:`EndOfStream`."""
        while True:
            item = self._queue.get()
            yield item
            if isinstance(item, EndOfStream):
                return

    def get(self, timeout: float | None = None) -> Frame | EndOfStream | None:
        """The next item, waiting up to ``timeout`` seconds (``None``: forever); ``None`` if none came."""
        try:
            return self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _run(self) -> None:
        error: str | None = None
        first: tuple[float, float] | None = None  # (pts, monotonic clock) of the first frame
        try:
            for frame in self.source.frames():
                if self._stopping.is_set():
                    break
                if self.realtime:
                    if first is None:
                        first = (frame.pts, time.monotonic())
                    delay = (frame.pts - first[0]) - (time.monotonic() - first[1])
                    if delay > 0 and self._stopping.wait(delay):
                        break
                self._put(frame)
        except SourceError as exc:
            error = str(exc)
        except Exception as exc:  # a bug or an unexpected library error still ends the stream cleanly
            log.exception("capture of %s failed", self.source.source_id)
            error = f"{self.source.source_id}: capture failed: {type(exc).__name__}: {redact(str(exc))}"
        finally:
            self.source.close()
            self._end(error)

    def _put(self, frame: Frame) -> None:
        if self.policy is BufferPolicy.DROP_OLDEST:
            while True:
                if self._resume_dropped:  # a dropped frame marked a gap in coverage: this one carries the mark
                    frame, self._resume_dropped = dataclasses.replace(frame, resumed=True), False
                try:
                    self._queue.put_nowait(frame)
                    break
                except queue.Full:
                    self._drop_oldest()
        else:
            while True:
                if self._stopping.is_set():
                    return
                try:
                    self._queue.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
        self.captured += 1
        self._notify()

    def _notify(self) -> None:
        if self._on_ready is not None:
            self._on_ready()

    def _drop_oldest(self) -> None:
        try:
            dropped = self._queue.get_nowait()
            self.dropped += 1
            self._resume_dropped |= getattr(dropped, "resumed", False)
        except queue.Empty:
            pass

    def _end(self, error: str | None) -> None:
        """Queue the end marker, which is never dropped: it displaces the oldest frame when the
        policy drops frames or the reader has stopped; otherwise it waits for the reader."""
        while True:
            marker = EndOfStream(self.source.source_id, error=error, dropped=self.dropped)
            try:
                self._queue.put(marker, timeout=0.1)
                self._notify()
                return
            except queue.Full:
                if self.policy is BufferPolicy.DROP_OLDEST or self._stopping.is_set():
                    self._drop_oldest()
