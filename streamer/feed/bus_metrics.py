"""``/metrics`` of a gateway: its feed's counters and what it knows of the event engine.

Exports :class:`GatewayCollector`.

Families beyond the feed's (:mod:`streamer.feed.metrics`)::

    jepa_stream_bus_connected                      gauge   1 while the engine answers, else 0
    jepa_stream_bus_events_relayed_total           counter logged events read from the stream
    jepa_stream_bus_outbox_dropped{source}         gauge   events the source's worker dropped from a full
                                                           outbox while the engine was down (as last reported)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from streamer.feed.gateway import StreamTail
from streamer.feed.metrics import PREFIX, FeedStats, RunCollector

__all__ = ["GatewayCollector"]


class GatewayCollector:
    """The feed's families (no sources: a gateway analyses nothing) and the engine's, read at each scrape."""

    def __init__(self, tail: StreamTail, feed: Callable[[], FeedStats]) -> None:
        self.tail, self.feed = tail, RunCollector(dict, feed)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.feed.collect()
        yield GaugeMetricFamily(f"{PREFIX}_bus_connected", "1 while the event engine answers, else 0",
                                value=1 if self.tail.link.connected else 0)
        yield CounterMetricFamily(f"{PREFIX}_bus_events_relayed", "Logged events read from the engine's stream",
                                  value=self.tail.relayed)
        dropped = GaugeMetricFamily(f"{PREFIX}_bus_outbox_dropped", "Logged events the source's worker dropped "
                                    "from a full outbox while the engine did not answer (as last reported)",
                                    labels=["source"])
        for source, count in sorted(self.tail.outbox_dropped.items()):
            dropped.add_metric([source], count)
        yield dropped
