"""Keep a live source running: reconnect with exponential backoff and report every state change.

Exports :class:`Backoff`, :class:`ReconnectingSource` and :data:`StatusCallback`.

:class:`ReconnectingSource` looks like any source to :class:`~streamer.capture.thread.CaptureThread`:
``frames()`` yields the frames of one connection after another, with ``index`` and ``pts``
continuing across them, and ends only when :meth:`ReconnectingSource.cancel` is called or
``max_attempts`` consecutive attempts have failed (then it raises :class:`SourceError`). It
emits ``connected``, ``disconnected`` and ``reconnecting``; the terminal ``ended`` and
``error`` come from whoever sees the stream end (:class:`~streamer.capture.multicapture.MultiCapture`).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from streamer.capture.capture_config import CaptureConfig
from streamer.capture.frames import Frame, SourceError
from streamer.secrets import redact
from streamer.capture.status import SourceState, SourceStatus, StatusCallback

__all__ = ["Backoff", "ReconnectingSource"]

log = logging.getLogger(__name__)


class Backoff:
    """Retry delays: ``initial * multiplier ** (attempt - 1)``, capped at ``maximum``, then scaled
    by a random factor in ``[1 - jitter, 1 + jitter]`` and capped again."""

    def __init__(
        self, initial: float, multiplier: float, maximum: float, jitter: float, rng: random.Random | None = None
    ):
        self.initial, self.multiplier, self.maximum, self.jitter = initial, multiplier, maximum, jitter
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, config: CaptureConfig, rng: random.Random | None = None) -> Backoff:
        return cls(
            config.backoff_initial_s, config.backoff_multiplier, config.backoff_max_s, config.backoff_jitter, rng
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``attempt`` (>= 1) failures."""
        exponent = min(attempt - 1, 1000)  # beyond any cap; keeps the power finite
        base = min(self.maximum, self.initial * self.multiplier**exponent)
        return min(self.maximum, base * self._rng.uniform(1 - self.jitter, 1 + self.jitter))


class LiveSource(Protocol):
    source_id: str
    label: str

    def open(self) -> None: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class ReconnectingSource:
    """Runs connections made by ``connect()`` one after another, forever by default.

    A connection that fails to open, fails while reading, stalls (the live source raises
    :class:`SourceError`), raises anything else (logged with its traceback) or ends is closed;
    the next attempt waits :class:`Backoff` delays that grow with consecutive failures and
    reset once a connection has delivered frames for ``backoff_reset_s`` (by default at its
    first frame). After
    ``max_attempts`` (> 0) consecutive failures :meth:`frames` raises :class:`SourceError`.

    Timestamps never go backwards: a new connection's first frame is placed after the last
    frame of the previous one by the wall-clock time between them (at least one millisecond),
    so media time keeps pace with real time across outages; that first frame has ``resumed``
    set (coverage had a gap). Status events go to ``on_status``
    (that is how a user hears of a failure); each failure is also logged at INFO as one line
    naming the source and the cause.
    """

    def __init__(
        self,
        source_id: str,
        connect: Callable[[], LiveSource],
        config: CaptureConfig,
        on_status: StatusCallback | None = None,
        rng: random.Random | None = None,
    ):
        self.source_id = source_id
        self.config = config
        self._connect = connect
        self._on_status = on_status
        self._backoff = Backoff.from_config(config, rng)
        self._cancel = threading.Event()
        self._current: LiveSource | None = None
        self.connections = 0  # successful opens so far
        self.reconnects = 0  # retries scheduled after a failure (each `reconnecting` status)

    def cancel(self) -> None:
        """Ask :meth:`frames` to finish: at once when waiting to retry, else after the current
        read (at most ``read_timeout_s``). Safe from any thread."""
        self._cancel.set()

    def frames(self) -> Iterator[Frame]:
        failures = 0
        last: tuple[int, float, float] | None = None  # (index, pts, monotonic) of the last frame out
        while not self._cancel.is_set():
            source = self._connect()
            self._current = source
            connected = False
            try:
                source.open()
                connected = True
                self.connections += 1
                self._emit(SourceState.CONNECTED, f"connected to {source.label}", **({"t": last[1]} if last else {}))
                healthy_at = time.monotonic() + self.config.backoff_reset_s
                offset: tuple[int, float] | None = None
                for frame in source.frames():
                    now = time.monotonic()
                    resumed = offset is None and last is not None  # the first frame after a gap in coverage
                    if offset is None and last is None:
                        offset = (0, 0.0)
                    elif offset is None:  # first frame of a new connection: continue after the last
                        gap = max(now - last[2], 1e-3)
                        offset = (last[0] + 1 - frame.index, last[1] + gap - frame.pts)
                    frame = dataclasses.replace(frame, index=frame.index + offset[0], pts=frame.pts + offset[1], resumed=resumed)
                    last = (frame.index, frame.pts, now)
                    if failures and now >= healthy_at:
                        failures = 0
                    yield frame
                    if self._cancel.is_set():
                        return
                reason = f"{source.label}: stream ended"
            except SourceError as exc:
                reason = str(exc)
            except Exception as exc:  # a library surprise must not end a camera left running for days
                log.exception("%s: unexpected error from %s", self.source_id, source.label)
                reason = f"{source.label}: unexpected {type(exc).__name__}: {redact(str(exc).partition(chr(10))[0])}"
            finally:
                self._current = None
                source.close()
            if self._cancel.is_set():
                return
            failures += 1
            if connected:
                self._emit(SourceState.DISCONNECTED, reason, **({"t": last[1]} if last else {}))
            if self.config.max_attempts and failures >= self.config.max_attempts:
                raise SourceError(f"{self.source_id}: giving up after {failures} failed attempts: {reason}")
            delay = self._backoff.delay(failures)
            log.info("%s: %s (retrying in %.1f s)", self.source_id, reason, delay)  # the status event tells the user
            self.reconnects += 1
            self._emit(
                SourceState.RECONNECTING, f"{reason} (retrying in {delay:.1f} s)", attempt=failures, delay_s=round(delay, 3)
            )
            if self._cancel.wait(delay):
                return

    def close(self) -> None:
        """Close the current connection, if any (call on the thread running :meth:`frames`)."""
        if self._current is not None:
            self._current.close()
            self._current = None

    def _emit(self, state: SourceState, detail: str, **extra: float | int) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(SourceStatus(self.source_id, state, detail, **extra))
        except Exception:  # a broken listener must not take the camera down
            log.exception("status callback failed for %s", self.source_id)
