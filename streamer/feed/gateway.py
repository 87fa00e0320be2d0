"""The gateway's feed from the engine: the stream's events, in order, into a local :class:`EventBus`.

Exports: ``StreamTail``, ``engine_status``.

A gateway (``jepa-stream serve --bus``) loads no model. Its :class:`~streamer.feed.bus.EventBus`
sits over the site's :class:`~streamer.feed.jetstream_log.JetStreamLog` (so a client's
``from_seq`` replay reads the stream by sequence) and gets its live events from a
:class:`StreamTail`: an ordered consumer of the stream from the bus's last seq + 1, and a
core-NATS subscription to the ephemeral subjects (stats, embeddings). Logged events reach the
sinks once each, in stream order: one with a seq at or below the last relayed is skipped. When
the link comes back after an outage the tail starts a new consumer from the last relayed seq + 1,
so nothing is skipped or repeated across an engine restart or a cluster node's death. A
watchdog backs this up: every :data:`WATCH_S` seconds it asks the stream for its last sequence,
and when the stream is ahead of what was relayed and nothing was relayed since its previous look,
it starts a new consumer the same way (one warning line). An ordered consumer that died without
the client noticing (its node lost while the leaders were being elected, nats.py issue 510)
would otherwise leave the gateway silent for good.

Each connection change of the engine goes to ``on_engine`` as a ``status`` message for clients
(:func:`engine_status`; source ``engine``, no seq: it is about this gateway, not in the log).
The newest outbox counters each worker reports in its sources' ``stats`` (``bus.dropped``) are
kept per source for ``/metrics`` (:attr:`StreamTail.outbox_dropped`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from nats.js.api import ConsumerConfig, DeliverPolicy

from streamer.feed.bus import EventBus
from streamer.feed.bus_config import BusConfig
from streamer.feed.nats_link import NatsLink
from streamer.feed.protocol import EventType, dumps, from_wire

__all__ = ["StreamTail", "engine_status", "ENGINE_SOURCE"]

logger = logging.getLogger(__name__)

#: The ``source`` of a gateway's own status messages about the engine.
ENGINE_SOURCE = "engine"
#: Seconds between the ordered consumer's heartbeats (a silent consumer is rebuilt after two).
HEARTBEAT_S = 1.0
#: Seconds a consumer creation may take (a cluster electing leaders, or a loaded machine, takes seconds).
CONSUMER_TIMEOUT_S = 3.0
#: Longest wait between two tries to read the stream again (the wait doubles from ``reconnect_wait_s``).
RETRY_MAX_S = 2.0
#: Seconds between the watchdog's looks at the stream's last sequence (one stream-info request each).
WATCH_S = 2.0


def engine_status(up: bool, detail: str) -> str:
    """The ``status`` message a gateway sends its clients when the engine goes or comes back."""
    return dumps({"v": 1, "type": "status", "source": ENGINE_SOURCE, "wall_time": time.time(),
                  "state": "connected" if up else "disconnected", "detail": detail})


class StreamTail:
    """Relays the engine's events to ``bus`` (a gateway's), from ``bus.last_seq + 1`` on.

    on_engine: Gets ``(text, up)``: :func:`engine_status` text and whether the engine is up, at each
        change of the engine connection (on the link's loop thread; it must only hand over).
    """

    def __init__(self, link: NatsLink, config: BusConfig, bus: EventBus,
                 on_engine: Callable[[str, bool], None]) -> None:
        self.link, self.config, self.bus, self.on_engine = link, config, bus, on_engine
        self.relayed = 0
        self.outbox_dropped: dict[str, int] = {}  # source -> its worker's outbox drops, as last reported
        self.engine_up = threading.Event()
        self.restarts = 0  # consumers the watchdog started again
        self._consumer = None
        self._live = None
        self._seen = 0  # bus.last_seq at the watchdog's previous look
        self._attempt = 0  # the newest consumer attempt (loop thread)

    def start(self) -> "StreamTail":
        """Subscribe (the link must be connected); later reconnects resubscribe by themselves."""
        self.link.call(self._subscribe(), self.config.ack_timeout_s + 5.0)
        self.engine_up.set()
        self.link.on_state = self._on_state
        self.link.loop.call_soon_threadsafe(self.link.loop.call_later, WATCH_S, self._watch)
        return self

    def _watch(self) -> None:
        """Look at the stream's last sequence now, and again in :data:`WATCH_S` (loop thread)."""
        self.link.loop.call_later(WATCH_S, self._watch)
        if self.link.connected:
            self.link.loop.create_task(self._check_progress())

    async def _check_progress(self) -> None:
        relayed, seen = self.bus.last_seq, self._seen
        self._seen = relayed
        if relayed > seen:
            return  # the feed moves
        try:
            info = await self.link.client.jetstream(timeout=CONSUMER_TIMEOUT_S).stream_info(self.config.stream)
        except Exception:  # noqa: BLE001 - the engine is away: the reconnect resubscribes
            return
        if info.state.last_seq > relayed:
            logger.warning("gateway: the stream is at seq %d and nothing past seq %d came for %g s; reading it again",
                           info.state.last_seq, relayed, WATCH_S)
            self.restarts += 1
            self._resubscribe()

    async def _subscribe(self, attempt: int = 0) -> None:
        """A consumer from the last relayed seq + 1, replacing the old one. ``attempt`` (from
        :meth:`_resubscribe`): a consumer made while a newer attempt began is given up at once,
        so two attempts in flight (a reconnect and the watchdog) leave one consumer, not two."""
        if self._live is None:  # core subscriptions survive reconnects (the client renews them)
            self._live = await self.link.client.subscribe(f"jepa-live.{self.config.site}.>", cb=self._on_live)
        if self._consumer is not None:
            try:
                await self._consumer.unsubscribe()
            except Exception:  # noqa: BLE001 - the old consumer may be gone with its node
                pass
        js = self.link.client.jetstream(timeout=max(CONSUMER_TIMEOUT_S, self.config.ack_timeout_s))
        start = self.bus.last_seq + 1
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        consumer = await js.subscribe(f"jepa.{self.config.site}.>", stream=self.config.stream,
                                      cb=self._on_logged, ordered_consumer=True, config=config,
                                      idle_heartbeat=HEARTBEAT_S)
        if attempt != self._attempt:
            await consumer.unsubscribe()
            return
        self._consumer = consumer
        logger.info("gateway: reading stream %s from seq %d", self.config.stream, start)

    async def _on_logged(self, msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.bus.last_seq:
            return  # already relayed (a consumer restarted behind us)
        try:
            event = from_wire(msg.data, seq)
        except ValueError as exc:
            logger.warning("gateway: stream %s seq %d is not an event (%s); skipped", self.config.stream, seq, exc)
            return
        self.bus.relay(event)
        self.relayed += 1

    async def _on_live(self, msg) -> None:
        try:
            event = from_wire(msg.data)
        except ValueError as exc:
            logger.warning("gateway: %s carried no event (%s); skipped", msg.subject, exc)
            return
        if event.type is EventType.STATS and isinstance(event.message.get("bus"), dict):
            self.outbox_dropped[event.source] = int(event.message["bus"].get("dropped", 0))
        self.bus.relay(event)

    def _on_state(self, up: bool, detail: str) -> None:
        if up:
            self.engine_up.set()
            self._resubscribe()
        else:
            self.engine_up.clear()
        self.on_engine(engine_status(up, f"{self.link.label}: {detail}"), up)

    def _resubscribe(self, wait_s: float | None = None) -> None:
        """A new consumer from the last relayed seq + 1; tried again after a failure, the wait doubling
        from ``reconnect_wait_s`` up to ``RETRY_MAX_S`` (loop thread)."""
        wait_s = self.config.reconnect_wait_s if wait_s is None else wait_s
        self._attempt += 1
        attempt = self._attempt

        def done(task) -> None:
            if attempt != self._attempt:
                return  # a newer attempt (a reconnect, the watchdog) took over, with its own retries
            if not task.cancelled() and task.exception() is not None and self.link.connected:
                logger.warning("gateway: cannot read the stream again (%s); retrying in %g s", task.exception(), wait_s)
                self.link.loop.call_later(wait_s, self._resubscribe, min(RETRY_MAX_S, 2 * wait_s))

        self.link.loop.create_task(self._subscribe(attempt)).add_done_callback(done)
