"""``jepa-stream bench``: selective decoding against uniform decoding, the offline Ward reference,
the other drift statistics, the shot-boundary detectors a user would otherwise run and
(optionally) a VLM that captions every clip, on the same decoded frames.

Exports :class:`BenchOptions`, :class:`VideoTrace`, :func:`match_boundaries`,
:func:`strategy_metrics`, :func:`trace_video` and :func:`run_bench`.

Each video is decoded once; the selective pipeline's pass over it is the trace every strategy
reads. One module per job, each importing only modules listed before it:

* :mod:`~pipelines.bench.options`: :class:`BenchOptions`, the bench's own settings;
* :mod:`~pipelines.bench.reference`: uniform picks and VL-JEPA's offline Ward segmentation;
* :mod:`~pipelines.bench.peers`: the shot-boundary detectors (PySceneDetect, TransNetV2);
* :mod:`~pipelines.bench.trace`: the one decoding pass per video (:func:`trace_video`);
* :mod:`~pipelines.bench.strategies`: when each strategy decodes, on a trace;
* :mod:`~pipelines.bench.metrics`: boundary matching, P/R/F1, lag, rates and latencies;
* :mod:`~pipelines.bench.baseline`: the baseline VLM's timed captions and what every clip would cost;
* :mod:`~pipelines.bench.report`: the terminal summary, ``report.md`` and ``timeline.png``;
* :mod:`~pipelines.bench.run`: :func:`run_bench`, the order of a run and ``report.json``.

Its command line is :mod:`pipelines.cli.bench`.

Importing this package loads numpy but neither torch, PyAV nor matplotlib; those load when a
bench runs.
"""

from pipelines.bench.metrics import match_boundaries, strategy_metrics
from pipelines.bench.options import BenchOptions
from pipelines.bench.run import run_bench
from pipelines.bench.trace import VideoTrace, trace_video

__all__ = [
    "BenchOptions",
    "VideoTrace",
    "match_boundaries",
    "strategy_metrics",
    "trace_video",
    "run_bench",
]
