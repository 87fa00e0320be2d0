"""A gateway put together: the bus over the engine's stream, the feed server and the stream's tail.

Exports: ``GatewayParts``, ``start_gateway``.

The one place where ``jepa-stream serve --bus`` (and the tests and the bench, which run gateways
in-process) joins :class:`~streamer.feed.bus.EventBus`, :class:`~streamer.feed.server.FeedServer`
with its ``/metrics`` (:class:`~streamer.feed.bus_metrics.GatewayCollector`) and
:class:`~streamer.feed.gateway.StreamTail`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamer.feed.bus import EventBus
from streamer.feed.bus_metrics import GatewayCollector
from streamer.feed.engine import Engine
from streamer.feed.gateway import StreamTail
from streamer.feed.http import HttpRoute
from streamer.feed.metrics import metrics_route
from streamer.feed.server import FeedServer
from streamer.feed.server_config import ServerConfig

__all__ = ["GatewayParts", "start_gateway"]


@dataclass(frozen=True)
class GatewayParts:
    """A running gateway; :meth:`close` stops the feed server (the engine is the caller's)."""

    bus: EventBus
    server: FeedServer
    tail: StreamTail

    def close(self) -> None:
        self.server.stop()


def start_gateway(engine: Engine, server_config: ServerConfig, routes: Sequence[HttpRoute] = (),
                  sources: Iterable[str] = ()) -> GatewayParts:
    """Serve the engine's stream on ``server_config``'s port, with ``routes`` and ``/metrics``.

    The engine must be connected. Raises LogUnavailable when the stream cannot be made or read,
    OSError naming the address when the port cannot be bound.
    """
    engine.log.ensure_stream()
    bus = EventBus(engine.log, sources=sources)
    server = FeedServer(server_config, bus, routes)  # /metrics needs the server's stats: added below
    tail = StreamTail(engine.link, engine.log.bus, bus, on_engine=lambda text, up: server.notify(text, sticky=not up))
    server.routes += (metrics_route(GatewayCollector(tail, lambda: server.stats())),)
    server.start()
    tail.start()
    return GatewayParts(bus, server, tail)
