"""The event log as a NATS JetStream stream: the :class:`~streamer.feed.log_api.EventLog` past one machine.

Exports: ``JetStreamLog``.

One stream per site (``JEPA_<site>``) holds the logged events on subjects
``jepa.<site>.<source>.<type>``. Its retention is the ``feed.log`` keys' (age, bytes, count:
the oldest go first), its replicas ``feed.bus.stream_replicas``. The seq of an event is the
stream sequence from the publish acknowledgement, so it is the same on every gateway and no two
publishers ever take the same one. Every publish carries a ``Nats-Msg-Id``
(:func:`~streamer.feed.log_api.message_id`), so an event re-sent after a lost acknowledgement
is dropped by the stream within ``feed.bus.duplicate_window_s`` and its ack gives the first seq.

The stored body is the event's wire JSON with ``"seq":0``; a read puts the stream sequence in.
Reads page through an ephemeral pull consumer (no acknowledgements, removed after use or 30 s
idle). Every call waits for the engine at most ``ack_timeout_s`` (plus a page's transfer for
reads) and raises :class:`~streamer.feed.nats_link.EngineUnavailable` beyond.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from streamer.feed.bus_config import BusConfig
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.log_api import message_id
from streamer.feed.nats_link import EngineUnavailable, NatsLink
from streamer.feed.protocol import LOGGED_TYPES, Outgoing, from_wire

__all__ = ["JetStreamLog"]


#: Errors of the engine that mean "not now" (down, electing a leader, no reply).
_UNAVAILABLE = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError,
                nats.errors.OutboundBufferLimitError, nats.js.errors.NoStreamResponseError,
                nats.js.errors.ServiceUnavailableError, asyncio.TimeoutError, OSError)
#: Events fetched per request while reading.
_FETCH_BATCH = 256


class JetStreamLog:
    """The site's stream, through a :class:`~streamer.feed.nats_link.NatsLink` (which it does not own).

    origin: Names this publishing run in every message id (see :func:`~streamer.feed.log_api.message_id`).
    """

    def __init__(self, link: NatsLink, bus: BusConfig, retention: EventLogConfig, origin: str) -> None:
        self.link, self.bus, self.retention, self.origin = link, bus, retention, origin
        self.js = link.client.jetstream(timeout=bus.ack_timeout_s)
        self._stream_ready = False
        self._first_seq: int | None = None

    def stream_config(self) -> StreamConfig:
        """The stream as this site's settings want it."""
        r = self.retention
        return StreamConfig(
            name=self.bus.stream, subjects=[f"jepa.{self.bus.site}.*.{t.value}" for t in sorted(LOGGED_TYPES)],
            storage=StorageType.FILE, num_replicas=self.bus.stream_replicas,
            max_age=r.retention_max_age_s or 0, max_bytes=r.retention_max_bytes or -1,
            max_msgs=r.retention_max_events or -1, duplicate_window=self.bus.duplicate_window_s)

    def _call(self, coro, extra_s: float = 0.5):
        try:
            return self.link.call(coro, self.bus.ack_timeout_s + extra_s)
        except _UNAVAILABLE as exc:
            raise EngineUnavailable(f"{self.link.label}: {type(exc).__name__} {exc}".rstrip()) from None

    def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one to these settings (once per log)."""
        if self._stream_ready:
            return

        async def ensure() -> None:
            config = self.stream_config()
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:  # it exists with other settings
                if exc.err_code != 10058:
                    raise
                await self.js.update_stream(config)

        try:
            self._call(ensure())
        except nats.js.errors.APIError as exc:
            raise EngineUnavailable(f"{self.link.label}: cannot create stream {self.bus.stream}: "
                                    f"{exc.description}") from None
        self._stream_ready = True

    def _state(self):
        self.ensure_stream()
        return self._call(self.js.stream_info(self.bus.stream)).state

    @property
    def last_seq(self) -> int:
        return self._state().last_seq

    @property
    def first_seq(self) -> int | None:
        """The oldest seq stored; while the engine is down, the last one known (no wait)."""
        if self.link.connected:
            state = self._state()
            self._first_seq = state.first_seq if state.messages else None
        return self._first_seq

    def append(self, event: Outgoing) -> int:
        """Publish ``event`` and wait for the acknowledgement; return the stream sequence.

        Raises EngineUnavailable when the engine does not acknowledge within ``ack_timeout_s``.
        """
        if not self.link.connected:  # fail at once: nothing piles up in the client's buffer while it is down
            raise EngineUnavailable(f"{self.link.label}: not connected")
        self.ensure_stream()
        headers = {"Nats-Msg-Id": message_id(self.origin, event)}
        ack = self._call(self.js.publish(self.bus.subject(event.source, event.type.value), event.utf8,
                                         headers=headers, stream=self.bus.stream))
        return ack.seq

    def read_wire_after(self, seq: int, types: Iterable[str] | None = None, sources: Iterable[str] | None = None,
                        limit: int = 1000) -> list[tuple[int, str]]:
        state = self._state()
        if seq >= state.last_seq or limit < 1:
            return []
        wanted_types = None if types is None else set(types)
        wanted_sources = None if sources is None else set(sources)
        if wanted_types is not None and not wanted_types:
            return []
        return self._call(self._read(max(seq + 1, state.first_seq), state.last_seq, wanted_types, wanted_sources,
                                     limit), extra_s=5.0 + limit / 1000)

    async def _read(self, start: int, end: int, types: set | None, sources: set | None,
                    limit: int) -> list[tuple[int, str]]:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                                ack_policy=AckPolicy.NONE, inactive_threshold=30.0, mem_storage=True, num_replicas=1)
        sub = await self.js.pull_subscribe(f"jepa.{self.bus.site}.>", stream=self.bus.stream, config=config)
        out: list[tuple[int, str]] = []
        try:
            while len(out) < limit:
                batch = await sub.fetch(_FETCH_BATCH, timeout=self.bus.ack_timeout_s)
                for msg in batch:
                    stream_seq = msg.metadata.sequence.stream
                    event = from_wire(msg.data, stream_seq)
                    if (types is None or event.type.value in types) and (sources is None or event.source in sources):
                        out.append((stream_seq, event.text))
                    if stream_seq >= end or len(out) >= limit:
                        return out
        finally:
            await sub.unsubscribe()
            try:
                await self.js.delete_consumer(self.bus.stream, sub._consumer)
            except (nats.errors.Error, asyncio.TimeoutError):  # it goes by itself after inactive_threshold
                pass
        return out

    def sources(self) -> list[str]:
        self.ensure_stream()
        info = self._call(self.js.stream_info(self.bus.stream, subjects_filter=f"jepa.{self.bus.site}.>"))
        subjects = info.state.subjects or {}
        return sorted({subject.split(".")[2].replace("%2E", ".") for subject in subjects})

    def close(self) -> None:
        """Nothing to release: the link belongs to the caller."""
