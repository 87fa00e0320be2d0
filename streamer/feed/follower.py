"""Deliver the durable log to an outside system at least once, from a cursor kept on disk.

Exports :class:`Cursor` and :class:`LogFollower`.

The MQTT and webhook sinks are :class:`LogFollower` subclasses. They do not queue logged events in
memory: the :class:`~streamer.feed.eventlog.EventLog` is their queue. ``emit`` (on the publishing
thread) only wakes the follower's thread, which reads the log after its cursor, in seq order, and
hands each event to :meth:`LogFollower.deliver`. When that returns True (the other side
acknowledged it) the cursor moves to that seq and is written to disk; when it returns False (the
broker or server is away) nothing moves, and the same event is tried again after ``retry_s``
(the subclass may wait longer: its own backoff). So after a broker outage, or a restart of
jepa-stream over the same log, what was never acknowledged is sent again, in order, then the live
events follow. An event may be delivered twice (acknowledged, then the cursor write lost to a
crash): consumers de-duplicate by ``seq``.

Ephemeral events (stats) are never replayed: they wait in a
:class:`~streamer.worker.BoundedQueue` (``max_ephemeral``, oldest dropped and counted) and go out
best-effort. A cursor file that is missing starts at the log's last seq
(the history from before the sink existed is not sent); events retention removed before they
were delivered are counted in one warning.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from streamer.feed.log_api import EventLog
from streamer.feed.protocol import Outgoing
from streamer.state_file import StateFile
from streamer.worker import BoundedQueue, OverflowPolicy

__all__ = ["Cursor", "LogFollower"]

log = logging.getLogger(__name__)


class Cursor:
    """The last seq the other side acknowledged, in a small JSON file (:class:`~streamer.state_file.StateFile`)."""

    def __init__(self, path: str | Path, default: int) -> None:
        self._file = StateFile(path, "cursor", "remove it to start from the log's end", "a restart may send events again")
        self.path = self._file.path
        seq = self._file.load(lambda document: int(document["seq"]))
        self.seq = default if seq is None else seq

    def save(self, seq: int) -> None:
        """Move the cursor to ``seq`` and write it; a failed write still moves it in memory."""
        self.seq = seq
        self._file.save({"seq": seq})


class LogFollower:
    """A sink that delivers the logged events of ``types`` (None: all) from the log after its cursor.

    ``batch``: events read from the log at a time (default 256). ``retry_s``: wait before trying an
    event again after :meth:`deliver` said no (default 0.5 s). ``drain_s``: how long :meth:`stop`
    keeps delivering what is left (default 5 s; the rest goes at the next start).
    ``max_ephemeral``: stats events waiting (default 64; the oldest are dropped).
    """

    name = "follower"

    def __init__(self, log_: EventLog, cursor_path: str | Path, types: frozenset[str] | None = None, *,
                 batch: int = 256, retry_s: float = 0.5, drain_s: float = 5.0, max_ephemeral: int = 64) -> None:
        self.log = log_
        self.cursor = Cursor(cursor_path, default=log_.last_seq)
        if self.cursor.seq > log_.last_seq:  # a new log beside an old cursor: its seqs start again
            log.warning("%s: cursor %s is at seq %d, past the log's last seq %d (a new log?); starting at the log's end",
                        self.name, self.cursor.path, self.cursor.seq, log_.last_seq)
            self.cursor.save(log_.last_seq)
        self.types = types
        self.batch, self.retry_s, self.drain_s = batch, retry_s, drain_s
        self._ephemeral: BoundedQueue[Outgoing] = BoundedQueue(max_ephemeral, OverflowPolicy.DROP_OLDEST)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self._last_error: str | None = None

    def deliver(self, seq: int, text: str) -> bool:
        """Send one logged event (``text``: its wire JSON, as logged); True once the other side
        acknowledged it (on the sink's thread)."""
        raise NotImplementedError

    def deliver_ephemeral(self, event: Outgoing) -> None:
        """Send one ephemeral event, best-effort (on the sink's thread); by default nothing."""

    def close(self) -> None:
        """Release the connection, after the last delivery (on the stopping thread)."""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
            self._thread.start()

    def emit(self, event: Outgoing) -> None:
        if event.seq is None:
            self._ephemeral.put(event)  # drop_oldest: never blocks
        self._wake.set()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
            self.close()

    def wake(self) -> None:
        """Look at the log again now (e.g. the connection came back)."""
        self._wake.set()

    def pause_s(self) -> float:
        """How long to wait before trying again after :meth:`deliver` said no (a subclass's backoff)."""
        return self.retry_s

    def _run(self) -> None:
        deadline = None
        while True:
            if deadline is None:
                self._wake.wait(self.retry_s)
                self._wake.clear()
            if self._stopping.is_set() and deadline is None:
                deadline = time.monotonic() + self.drain_s
            while (event := self._ephemeral.get(0)) is not None:
                self.deliver_ephemeral(event)
            done = self._guarded_pump(deadline)
            if deadline is not None and (done or time.monotonic() >= deadline):
                return
            if not done and deadline is None:
                self._stopping.wait(self.pause_s())
            elif not done:
                time.sleep(max(0.0, min(self.pause_s(), deadline - time.monotonic())))

    def _guarded_pump(self, deadline: float | None) -> bool:
        """:meth:`_pump`, with an unexpected error logged (once per kind) and the event tried again later."""
        try:
            return self._pump(deadline)
        except Exception as exc:  # a sink that fails must not stop the analysis, nor die silently
            if repr(exc) != self._last_error:
                log.error("%s: delivery failed: %s (trying again)", self.name, exc)
            self._last_error = repr(exc)
            return False

    def _pump(self, deadline: float | None) -> bool:
        """Deliver from the cursor on; True when everything logged so far is delivered."""
        while deadline is None or time.monotonic() < deadline:
            first = self.log.first_seq
            if first is not None and self.cursor.seq + 1 < first:
                log.warning("%s: events %d to %d were removed by the log's retention before delivery",
                            self.name, self.cursor.seq + 1, first - 1)
                self.cursor.save(first - 1)
            rows = self.log.read_wire_after(self.cursor.seq, self.types, limit=self.batch)
            if not rows:
                return True
            for seq, text in rows:
                if not self.deliver(seq, text):
                    return False
                self.cursor.save(seq)
                self.delivered += 1
                if self._stopping.is_set() and deadline is not None and time.monotonic() >= deadline:
                    return False
            if not self._stopping.is_set() and len(rows) < self.batch:
                return True
        return False
