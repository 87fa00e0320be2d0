"""The capture thread: a source decoded on its own thread into a bounded buffer.

Exports :class:`CaptureThread` and :class:`FrameSource`.

The consumer iterates :meth:`CaptureThread.frames`; the stream always ends with exactly one
:class:`~streamer.capture.frames.EndOfStream`, which carries the source's error (if any) and how many
frames the buffer policy dropped. The buffer is a :class:`~streamer.worker.BoundedQueue` under an
:class:`~streamer.worker.OverflowPolicy`: ``wait`` (file replay: nothing is lost) or
``drop_oldest`` (live sources never fall behind; a dropped frame marked ``resumed`` hands
the mark to the frame that displaced it).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from streamer.capture.frames import EndOfStream, Frame, SourceError
from streamer.secrets import redact
from streamer.worker import BoundedQueue, OverflowPolicy

__all__ = ["CaptureThread", "FrameSource"]

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    source_id: str

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def _carry_resumed(displaced: Frame | EndOfStream, frame: Frame) -> Frame:
    """The frame that displaced a ``resumed`` one (the first after a reconnect) carries its mark:
    the gap in coverage is still just before the frames the reader gets."""
    if getattr(displaced, "resumed", False) and not frame.resumed:
        return dataclasses.replace(frame, resumed=True)
    return frame


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
        policy: OverflowPolicy = OverflowPolicy.WAIT,
        realtime: bool = False,
        on_ready: Callable[[], None] | None = None,
    ):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
        self.source = source
        self.realtime = realtime
        self.captured = 0  # frames put in the buffer (dropped ones included)
        self._on_ready = on_ready
        self._queue: BoundedQueue[Frame | EndOfStream] = BoundedQueue(buffer_size, policy, carry=_carry_resumed)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.source_id}", daemon=True)

    @property
    def policy(self) -> OverflowPolicy:
        return self._queue.policy

    @property
    def dropped(self) -> int:
        """Frames the policy dropped (the end marker displaces frames too, counted here)."""
        return self._queue.dropped

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._queue.clear()  # unblock a producer waiting on a full queue
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
        return self._queue.get(timeout)

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
        if not self._queue.put(frame, abandon=self._stopping):
            if self.policy is OverflowPolicy.WAIT:
                return  # stopping: the reader is gone
        self.captured += 1
        self._notify()

    def _notify(self) -> None:
        if self._on_ready is not None:
            self._on_ready()

    def _end(self, error: str | None) -> None:
        """Queue the end marker, which is never dropped: it displaces the oldest frame when the
        policy drops frames or the reader has stopped; otherwise it waits for the reader."""
        while True:
            marker = EndOfStream(self.source.source_id, error=error, dropped=self.dropped)
            if self._queue.put_wait(marker, timeout=0.1):
                self._notify()
                return
            if (self.policy is OverflowPolicy.DROP_OLDEST or self._stopping.is_set()) and self._queue.drop_oldest():
                self._queue.count_dropped()
