"""The ``/metrics`` route of a run: its pipelines' and captures' counters as Prometheus metrics.

Exports :func:`source_metrics` and :func:`run_metrics_route`.

The glue between what a run keeps anyway (:class:`~pipelines.core.selective.PipelineStats`,
:meth:`~streamer.capture.multicapture.MultiCapture.counters`, the feed's
:class:`~streamer.feed.metrics.FeedStats`) and :mod:`streamer.feed.metrics`, which knows the
Prometheus side. Everything is read when a scrape asks, on the feed's thread: plain ints and
one copy of each histogram's counts, never a lock the pipeline holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipelines.core.drift import Reason
from pipelines.core.selective import SelectivePipeline
from streamer.capture.multicapture import MultiCapture
from streamer.feed.http import HttpRoute
from streamer.feed.metrics import FeedStats, HistogramCounts, RunCollector, SourceMetrics, metrics_route

__all__ = ["source_metrics", "run_metrics_route"]


def source_metrics(pipelines: Mapping[str, SelectivePipeline], capture: MultiCapture) -> dict[str, SourceMetrics]:
    """A :class:`SourceMetrics` for each source of ``pipelines``, read now."""
    counters = capture.counters()
    out = {}
    for sid, pipeline in pipelines.items():
        st, c = pipeline.stats, counters[sid]
        histogram = st.step_seconds
        out[sid] = SourceMetrics(
            frames_in=c.captured,
            frames_analysed=st.frames,
            frames_dropped=c.dropped,
            clips=st.clips,
            decodes={r.value: st.decodes_by_reason.get(r.value, 0) for r in Reason},
            drift=st.drift,
            threshold=st.threshold,
            reconnects=c.reconnects,
            connections=c.connections,
            step_seconds=HistogramCounts(histogram.bounds, tuple(histogram.cumulative()), histogram.sum),
        )
    return out


def run_metrics_route(pipelines: Mapping[str, SelectivePipeline], capture: MultiCapture,
                      feed: Callable[[], FeedStats]) -> HttpRoute:
    """``/metrics`` for a run: its sources, and the feed that ``feed()`` describes."""
    return metrics_route(RunCollector(lambda: source_metrics(pipelines, capture), feed))
