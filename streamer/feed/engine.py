"""Opening the event engine for a process, and the sink that puts ephemeral events on it.

Exports: ``Engine``, ``open_engine``, ``LiveSink``.

:func:`open_engine` starts a :class:`~streamer.feed.nats_link.NatsLink` and the site's
:class:`~streamer.feed.jetstream_log.JetStreamLog` over it. A worker does not wait for the
engine (its outbox holds events until it answers); a gateway waits (``wait_s``), because it has
nothing to serve before. :class:`LiveSink` publishes stats and embeddings on their core-NATS
subjects: no storage, no acknowledgement, and nothing kept while the engine is down.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import nats.errors

from streamer.feed.bus_config import BusConfig
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.jetstream_log import JetStreamLog
from streamer.feed.nats_link import NatsLink
from streamer.feed.protocol import Outgoing

__all__ = ["Engine", "open_engine", "LiveSink"]


@dataclass(frozen=True)
class Engine:
    """A process's connection to the engine and the site's log over it; :meth:`close` ends both."""

    link: NatsLink
    log: JetStreamLog

    def close(self) -> None:
        self.log.close()
        self.link.close()


def open_engine(config: BusConfig, retention: EventLogConfig, role: str, wait_s: float | None = None) -> Engine:
    """Connect to ``config.url`` as ``jepa-stream <role>``.

    ``wait_s``: seconds to wait for the first connection (then ``ValueError`` naming the engine);
    None returns at once. Raises ValueError naming the key for unreadable TLS files.
    """
    link = NatsLink(config, f"jepa-stream {role}").start()
    if wait_s is not None and not link.wait_connected(wait_s):
        link.close()
        raise ValueError(f"{link.label}: no answer within {wait_s:g} s (is nats-server running with -js?)")
    origin = f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}"
    return Engine(link, JetStreamLog(link, config, retention, origin))


class LiveSink:
    """Publishes ephemeral events (stats, embeddings) on ``jepa-live.<site>.<source>.<type>``.

    Logged events are not its business (the outbox sends those). While the engine is down the
    events are dropped, not queued: they are worth nothing late.
    """

    name = "engine-live"

    def __init__(self, link: NatsLink, config: BusConfig) -> None:
        self.link, self.config = link, config
        self.published = 0

    def start(self) -> None:
        """Nothing to open: the link is the caller's."""

    def emit(self, event: Outgoing) -> None:
        if event.seq is not None or not self.link.connected:
            return
        subject = self.config.live_subject(event.source, event.type.value)
        self.link.loop.call_soon_threadsafe(self._publish, subject, event.utf8)

    def _publish(self, subject: str, data: bytes) -> None:
        if self.link.connected:
            self.link.loop.create_task(self._send(subject, data))

    async def _send(self, subject: str, data: bytes) -> None:
        try:
            await self.link.client.publish(subject, data)
            self.published += 1
        except nats.errors.Error:  # the engine went meanwhile: an ephemeral event is not worth keeping
            pass

    def stop(self) -> None:
        """Nothing to release."""
