"""The event bus: the durable log numbers each logged event, then fan-out.

Pipelines (one thread per source, or one for all) call :meth:`EventBus.publish`.
For a caption or status event the bus, under one lock: appends the event to the
:class:`~streamer.feed.log_api.EventLog`, which assigns its seq, then hands it to every sink.
Stats and embedding events are ephemeral: no seq, not logged, handed to the sinks in the
same order as the rest.

With an outbox (``--bus``: the log is the engine's stream, which may not answer) ``publish``
queues a logged event in the :class:`~streamer.feed.outbox.Outbox` and returns at once; the
sinks get it, numbered, once the engine acknowledged it. A gateway, which logs nothing,
hands the stream's events to its sinks with :meth:`EventBus.relay`.

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
from dataclasses import asdict
from typing import Any, Iterable, Mapping

from streamer.feed.log_api import EventLog
from streamer.feed.outbox import Outbox
from streamer.feed.protocol import LOGGED_TYPES, EventType, Outgoing, event_type, prepare_event, with_seq
from streamer.feed.sinks import Sink


class EventBus:
    """Logs the logged types (``LOGGED_TYPES``) durably, numbered by the log, and fans every event out.

    log: Where logged events (caption, status, baseline caption, enrichment) go before anyone sees
        them; it assigns their seq, which keeps growing across restarts over the same log.
    sources: Source names announced in ``hello`` before they publish anything;
        every source that publishes or is in the log is announced too.
    profile: Model profile name announced in ``hello`` (e.g. ``"lite"``).
    outbox_max: With a number, logged events go through an :class:`~streamer.feed.outbox.Outbox`
        of that many events (``retry_s`` apart while the log does not answer); the log is not
        read at start. None (the default): each publish appends and waits.
    """

    def __init__(self, log: EventLog, *, sources: Iterable[str] = (), profile: str | None = None,
                 outbox_max: int | None = None, retry_s: float = 0.5) -> None:
        self.log = log
        self.profile = profile
        self._lock = threading.Lock()
        self._sinks: list[Sink] = []
        self.outbox = None if outbox_max is None else Outbox(log.append, self.relay, limit=outbox_max, retry_s=retry_s)
        self._last_seq = 0 if self.outbox else log.last_seq
        self._sources = set(sources) | (set() if self.outbox else set(log.sources()))

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

        Logged events (caption, status, baseline caption, enrichment) get their seq from the log
        (any ``seq`` in ``event`` is replaced) and are in the log when this returns; with an
        outbox they are queued instead and the returned message has no ``seq`` yet, and a stats
        event gets the outbox's counters in ``bus`` (queued, sent, dropped). An embedding
        event's ``embedding`` array becomes float16 ``data`` (base64) with ``dim`` and ``dtype``.
        ``event`` itself is not modified. The call blocks for the log write (one SQLite
        transaction), never for a client or the engine.

        Raises ValueError naming the problem for an event that breaks the
        protocol (unknown type, missing or unknown field, NaN, ...); no seq is
        used up then.
        """
        kind = event_type(event)
        if kind not in LOGGED_TYPES:
            if kind is EventType.STATS and self.outbox is not None:
                event = {**event, "bus": asdict(self.outbox.stats)}
            out = prepare_event(event, None)
            with self._lock:
                self._hand_over(out)
            return out.message
        draft = prepare_event(event, 0)  # seq 0 until the log numbers it
        if self.outbox is not None:
            self.outbox.put(draft)
            return {k: v for k, v in draft.message.items() if k != "seq"}
        with self._lock:
            try:
                seq = self.log.append(draft)
            except KeyboardInterrupt:  # a stop signal (StopSignals) can land before or after the row is committed
                self._last_seq = self.log.last_seq  # what the log holds; the log numbers the next event itself
                raise
            out = with_seq(draft, seq)
            self._last_seq = out.seq
            self._hand_over(out)
        return out.message

    def relay(self, out: Outgoing) -> None:
        """Hand an event already logged elsewhere (it has its seq) or ephemeral to every sink, in call order."""
        with self._lock:
            if out.seq is not None:
                self._last_seq = out.seq
            self._hand_over(out)

    def _hand_over(self, out: Outgoing) -> None:
        self._sources.add(out.source)
        for sink in self._sinks:
            sink.emit(out)

    #: Seconds ``close()`` lets the outbox send what waits.
    CLOSE_DRAIN_S = 5.0

    def close(self) -> None:
        """Send what the outbox holds (up to ``CLOSE_DRAIN_S``), drop every sink and close the log."""
        if self.outbox is not None:
            self.outbox.close(self.CLOSE_DRAIN_S)
        with self._lock:
            self._sinks.clear()
        self.log.close()
