"""Prometheus metrics of a run, read from live state at scrape time: nothing on the hot path.

Exports :class:`FeedStats`, :class:`HistogramCounts`, :class:`SourceMetrics`,
:class:`RunCollector`, :data:`METRICS_CACHE_S` and :func:`metrics_route`.

:class:`RunCollector` is a ``prometheus_client`` custom collector: each scrape calls its two
callables, one for a :class:`SourceMetrics` snapshot per source and one for the feed's :class:`FeedStats`
(:meth:`streamer.feed.server.FeedServer.stats`), and turns them into metric families. The pipeline
and the capture threads only keep the plain counters they keep anyway (and one bucket count
per clip), so a run that nobody scrapes pays nothing. :func:`metrics_route` serves a
collector in its own ``CollectorRegistry`` (never the process-global one: two runs in one
process, as in the tests, do not mix) as an :class:`~streamer.feed.http.HttpRoute` that
needs the feed's token, like every route with data.

Families (``source`` label per source; ``docs/METRICS.md`` says what each means)::

    jepa_stream_frames_total{source,stage="in|analysed|dropped"}   counter
    jepa_stream_clips_total{source}                                counter
    jepa_stream_decodes_total{source,reason="start|change|heartbeat|resume"} counter
    jepa_stream_drift{source}, jepa_stream_drift_threshold{source} gauge
    jepa_stream_reconnects_total{source}, jepa_stream_source_connections_total{source} counter
    jepa_stream_step_seconds{source}                               histogram
    jepa_stream_feed_subscribers, jepa_stream_feed_lagging_clients gauge
    jepa_stream_feed_events_sent_total{type}, jepa_stream_feed_events_replayed_total,
    jepa_stream_feed_connections_total                             counter

A scrape runs on the feed's event loop (HTTP routes do): its cost is one pass over the
sources, about 2 ms for 16 on a 2-core CPU (``benchmarks/bench_metrics.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from streamer.feed.http import HttpReply, HttpRoute
from streamer.feed.protocol import EventType

__all__ = ["FeedStats", "HistogramCounts", "SourceMetrics", "RunCollector", "metrics_route"]

PREFIX = "jepa_stream"

#: What ``generate_latest`` writes: Prometheus' classic text format (every Prometheus server reads
#: it; newer libraries name their OpenMetrics-era type "latest", which this text is not).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class FeedStats:
    """The feed at one moment: ``clients`` connected; ``lagging``, the clients that lost
    embeddings or stats to a full queue and have not emptied their queue since; ``sent``,
    events sent live per type (summed over clients); ``replayed``, logged events sent from
    the log to clients resuming with ``from_seq``; ``connections``, WebSocket sessions
    accepted since start."""

    clients: int = 0
    lagging: int = 0
    sent: Mapping[str, int] = field(default_factory=dict)
    replayed: int = 0
    connections: int = 0


@dataclass(frozen=True)
class HistogramCounts:
    """A histogram at one moment: ``bounds`` (upper bounds, seconds), ``cumulative`` (the
    observations at or below each bound, then the total: one more than ``bounds``) and ``sum``."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float


@dataclass(frozen=True)
class SourceMetrics:
    """One source at one moment. ``frames_in``: sampled frames its capture produced;
    ``frames_analysed``: those the pipeline took; ``frames_dropped``: those the buffer gave up.
    ``decodes`` maps each drift reason to its decodes (every reason present, zeros included)."""

    frames_in: int
    frames_analysed: int
    frames_dropped: int
    clips: int
    decodes: Mapping[str, int]
    drift: float
    threshold: float
    reconnects: int
    connections: int
    step_seconds: HistogramCounts


class RunCollector:
    """The metrics of one run, computed from ``sources()`` and ``feed()`` at each scrape."""

    def __init__(self, sources: Callable[[], Mapping[str, SourceMetrics]], feed: Callable[[], FeedStats]) -> None:
        self._sources, self._feed = sources, feed

    def describe(self) -> list[Metric]:
        return []  # families depend on the live state: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        sources = self._sources()
        yield from _source_families(sources)
        yield from _feed_families(self._feed())


def _source_families(sources: Mapping[str, SourceMetrics]) -> list[Metric]:
    frames = CounterMetricFamily(f"{PREFIX}_frames", "Sampled frames per source: produced by capture (in), "
                                 "taken by the pipeline (analysed), given up by a full buffer (dropped)",
                                 labels=["source", "stage"])
    clips = CounterMetricFamily(f"{PREFIX}_clips", "Clips analysed (one embedding each)", labels=["source"])
    decodes = CounterMetricFamily(f"{PREFIX}_decodes", "Text decodes by the drift decision that fired them",
                                  labels=["source", "reason"])
    drift = GaugeMetricFamily(f"{PREFIX}_drift", "Drift statistic of the newest clip", labels=["source"])
    threshold = GaugeMetricFamily(f"{PREFIX}_drift_threshold", "Enter threshold in effect for the newest clip",
                                  labels=["source"])
    reconnects = CounterMetricFamily(f"{PREFIX}_reconnects", "Retries of a live source after a failure",
                                     labels=["source"])
    connections = CounterMetricFamily(f"{PREFIX}_source_connections", "Successful opens of a source",
                                      labels=["source"])
    step = HistogramMetricFamily(f"{PREFIX}_step_seconds", "Per-clip step latency: encode, predict and drift",
                                 labels=["source"])
    for sid, m in sources.items():
        for stage, value in (("in", m.frames_in), ("analysed", m.frames_analysed), ("dropped", m.frames_dropped)):
            frames.add_metric([sid, stage], value)
        clips.add_metric([sid], m.clips)
        for reason, value in m.decodes.items():
            decodes.add_metric([sid, reason], value)
        drift.add_metric([sid], m.drift)
        threshold.add_metric([sid], m.threshold)
        reconnects.add_metric([sid], m.reconnects)
        connections.add_metric([sid], m.connections)
        h = m.step_seconds
        buckets = [(_le(b), c) for b, c in zip(h.bounds, h.cumulative)] + [("+Inf", h.cumulative[-1])]
        step.add_metric([sid], buckets, h.sum)
    return [frames, clips, decodes, drift, threshold, reconnects, connections, step]


def _feed_families(stats: FeedStats) -> list[Metric]:
    subscribers = GaugeMetricFamily(f"{PREFIX}_feed_subscribers", "WebSocket clients connected to the feed",
                                    value=stats.clients)
    lagging = GaugeMetricFamily(f"{PREFIX}_feed_lagging_clients", "Clients that lost embeddings or stats to a full "
                                "queue and have not caught up since", value=stats.lagging)
    sent = CounterMetricFamily(f"{PREFIX}_feed_events_sent", "Events sent live to clients, by type (summed over clients)",
                               labels=["type"])
    for kind in EventType:
        sent.add_metric([kind.value], stats.sent.get(kind.value, 0))
    replayed = CounterMetricFamily(f"{PREFIX}_feed_events_replayed", "Logged events sent from the log to resuming clients",
                                   value=stats.replayed)
    connections = CounterMetricFamily(f"{PREFIX}_feed_connections", "WebSocket sessions accepted", value=stats.connections)
    return [subscribers, lagging, sent, replayed, connections]


def _le(bound: float) -> str:
    return repr(float(bound))  # "0.005", "1.0": the form Prometheus' own clients write


#: Seconds a run serves the same rendered ``/metrics`` body: a scrape storm renders it once per interval.
METRICS_CACHE_S = 1.0


def metrics_route(collector: RunCollector, path: str = "/metrics", cache_s: float = 0.0,
                  clock: Callable[[], float] = time.monotonic) -> HttpRoute:
    """``collector`` in a registry of its own, served at ``path`` (behind the feed's token).
    A body rendered less than ``cache_s`` seconds ago (by ``clock``) is served again instead
    of rendering a new one (0: every scrape renders). The handler runs on one thread (the loop)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    rendered: list = [b"", -math.inf]  # body, when

    def handler(_path: str, _query: Mapping[str, Sequence[str]]) -> HttpReply:
        now = clock()
        if cache_s <= 0 or now - rendered[1] >= cache_s:
            rendered[:] = [generate_latest(registry), now]
        return HttpReply(HTTPStatus.OK, rendered[0], CONTENT_TYPE)

    return HttpRoute(path, handler)
