"""The event bus: one seq counter, the durable log, then fan-out.

Pipelines (one thread per source, or one for all) call :meth:`EventBus.publish`.
For a caption or status event the bus, under one lock: takes the next
server-wide seq, appends the event to the :class:`~streamer.feed.eventlog.EventLog`,
then hands it to every sink. Stats and embedding events are ephemeral: no seq,
not logged, handed to the sinks in the same order as the rest.

A sink is a :class:`~streamer.feed.sinks.Sink`: its ``emit`` runs on the publishing
thread while the lock is held, so it must only hand the event over and return
(the WebSocket feed's is ``loop.call_soon_threadsafe``, which keeps the order and
never waits for a client; the others put it in their own bounded queue). Each
event is serialised once, by :func:`~streamer.feed.protocol.prepare_event`, and every
sink gets the same :class:`~streamer.feed.protocol.Outgoing`.

Exports: ``EventBus``.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

from streamer.feed.eventlog import EventLog
from streamer.feed.protocol import LOGGED_TYPES, Outgoing, event_type, prepare_event
from streamer.feed.sinks import Sink


class EventBus:
    """Assigns seqs, logs the logged types (``LOGGED_TYPES``) durably and fans every event out.

    log: Where logged events (caption, status, baseline caption, enrichment) go before anyone sees them. The seq
        counter continues from ``log.last_seq``, so seqs keep growing across
        restarts over the same log file.
    sources: Source names announced in ``hello`` before they publish anything;
        every source that publishes or is in the log is announced too.
    profile: Model profile name announced in ``hello`` (e.g. ``"lite"``).
    """

    def __init__(self, log: EventLog, *, sources: Iterable[str] = (), profile: str | None = None) -> None:
        self.log = log
        self.profile = profile
        self._lock = threading.Lock()
        self._last_seq = log.last_seq
        self._sources = set(sources) | set(log.sources())
        self._sinks: list[Sink] = []

    @property
    def last_seq(self) -> int:
        """The seq of the last logged event published (0 if none ever was)."""
        with self._lock:
            return self._last_seq

    @property
    def sources(self) -> list[str]:
        """Every source configured, logged or published so far, sorted."""
        with self._lock:
            return sorted(self._sources)

    def add_sink(self, sink: Sink) -> int:
        """Register ``sink`` for every later event; return the last seq it will not see.

        Registering and reading the seq happen under the bus lock, so the sink
        receives exactly the logged events with a larger seq.
        """
        with self._lock:
            self._sinks.append(sink)
            return self._last_seq

    def remove_sink(self, sink: Sink) -> None:
        """Stop handing events to ``sink`` (no error if it is not registered)."""
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def publish(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """Publish one event from any thread; return it as sent on the wire (the
        message every sink got; do not modify it).

        Logged events (caption, status, baseline caption, enrichment) get the next
        seq (any ``seq`` in ``event`` is replaced) and are in the log when this returns. An embedding event's
        ``embedding`` array becomes float16 ``data`` (base64) with ``dim`` and
        ``dtype``. ``event`` itself is not modified. The call blocks for the log
        write (one SQLite transaction), never for a client.

        Raises ValueError naming the problem for an event that breaks the
        protocol (unknown type, missing or unknown field, NaN, ...); no seq is
        used up then.
        """
        kind = event_type(event)
        if kind in LOGGED_TYPES:
            with self._lock:
                seq = self._last_seq + 1
                out = prepare_event(event, seq)
                try:
                    self.log.append(seq, kind.value, out.source, out.wall_time, out.text)
                except KeyboardInterrupt:  # a stop signal can land before or after the row is committed
                    self._last_seq = self.log.last_seq  # what the log holds: the next seq is neither reused nor skipped
                    raise
                self._last_seq = seq
                self._hand_over(out)
        else:
            out = prepare_event(event, None)
            with self._lock:
                self._hand_over(out)
        return out.message

    def _hand_over(self, out: Outgoing) -> None:
        self._sources.add(out.source)
        for sink in self._sinks:
            sink.emit(out)

    def close(self) -> None:
        """Drop every sink and close the log."""
        with self._lock:
            self._sinks.clear()
        self.log.close()
