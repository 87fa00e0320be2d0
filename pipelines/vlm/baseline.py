"""The baseline path: the VLM captions every clip, beside the selective path, for comparison.

Exports :class:`BaselineResult`, :class:`BaselineObserver`, :func:`baseline_event` and
:func:`start_baseline` (its command-line options are in :mod:`pipelines.cli.options`).

The selective path never waits for the baseline: every clip goes to the
:class:`~pipelines.vlm.worker.VLMWorker` under the admission "every clip"
(:class:`~pipelines.vlm.admission.EveryClip`: ``max_queue`` clips, default 4, and a named
policy for when it is full; ``drop_oldest`` by default).

Lag is measured per caption in media time (``lag_s``: how far the stream's newest clip is past
the clip just captioned when its caption is ready) and wall time (``wall_lag_s``: from the clip
being handed over to its caption). Histories are bounded to :data:`LAG_HISTORY` captions.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipelines.core.observers import RunObserver
from pipelines.percentiles import percentile, percentiles
from pipelines.vlm.admission import ClipJob, EveryClip
from pipelines.vlm.loader import open_vlm
from pipelines.vlm.worker import VLMResult, VLMWorker
from streamer.feed.events import BaselineCaptionEvent
from streamer.worker import OverflowPolicy

if TYPE_CHECKING:  # torch loads only when a baseline is asked for
    from models.vlm import VLM, VLMCaption, VLMConfig
    from pipelines.core.selective import ClipResult

__all__ = ["BaselineResult", "BaselineObserver", "baseline_event", "start_baseline"]

log = logging.getLogger(__name__)

LAG_HISTORY = 4096


@dataclass(frozen=True)
class BaselineResult:
    request: ClipJob
    caption: VLMCaption
    lag_s: float  # media seconds the stream's head is past this clip when the caption is ready
    wall_lag_s: float  # wall seconds from hand-over to caption
    wall_time: float


def baseline_event(result: BaselineResult) -> dict:
    """The ``baseline_caption`` event of one result (emitted only when a baseline runs)."""
    r, c = result.request, result.caption
    return BaselineCaptionEvent(
        r.source, r.t_start, r.t_end, result.wall_time, c.text, c.weights, c.note,
        result.lag_s, result.wall_lag_s, c.prefill_ms, c.decode_ms, c.total_ms,
    ).to_dict()


class BaselineObserver(RunObserver):
    """The baseline's attachment to a run: every finished clip (its newest ``frames`` frames)
    goes to a :class:`~pipelines.vlm.worker.VLMWorker` under :class:`~pipelines.vlm.admission.EveryClip`
    (``max_queue``, ``policy``); ``on_result`` gets each :class:`BaselineResult` from the worker's
    thread. :meth:`submit` never blocks unless the policy is ``wait``. :meth:`close` stops the
    worker (clips still queued are dropped and counted) and prints one summary line on stderr."""

    def __init__(self, vlm: VLM, on_result: Callable[[BaselineResult], None] | None = None, *, frames: int = 1,
                 max_queue: int = 4, policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST):
        self.vlm = vlm
        self._frames = max(1, frames)
        self._on_result = on_result
        self.admission = EveryClip(max_queue, policy)
        self.worker = VLMWorker(vlm, self.admission, self._captioned, name="baseline-vlm")
        self._lock = threading.Lock()
        self._head: dict[str, float] = {}  # source → media time of the newest clip handed over
        self.submitted = self.captioned = self.errors = 0
        self._ended = 0  # clips turned away or left at close
        self.lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.wall_lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.total_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.prefill_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.decode_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self._summary: dict | None = None

    def start(self) -> BaselineObserver:
        self.worker.start()
        return self

    @property
    def policy(self) -> OverflowPolicy:
        return self.admission.policy

    @property
    def dropped(self) -> int:
        """Clips not captioned: refused or displaced by the policy, or still queued at the end."""
        return self.admission.dropped + self._ended

    def is_alive(self) -> bool:
        """Whether the worker thread runs (it ends at :meth:`finish`)."""
        return self.worker.is_alive()

    def on_clip(self, result: ClipResult) -> None:
        images = [f.image for f in result.clip_frames[-self._frames:]]
        self.submit(result.source, result.t_start, result.t_end, images)

    def submit(self, source: str, t_start: float, t_end: float, images: list[np.ndarray]) -> bool:
        """Hand over one clip; return whether it was queued (a drop is counted in ``dropped``)."""
        with self._lock:
            self.submitted += 1
            self._head[source] = max(self._head.get(source, t_end), t_end)
        verdict = self.worker.submit(ClipJob(source, t_start, t_end, tuple(images), time.monotonic()))
        if verdict.turned_away:  # after the end
            with self._lock:
                self._ended += len(verdict.turned_away)
        return verdict.admitted

    def _captioned(self, outcome: VLMResult) -> None:
        """Keep the figures of one caption (on the worker thread) and hand it to ``on_result``."""
        job = outcome.job
        if outcome.caption is None:  # a model failure must not stop the selective path
            log.error("baseline caption failed at %.2f s: %s", job.t_end, outcome.error)
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            result = BaselineResult(job, outcome.caption, self._head.get(job.source, job.t_end) - job.t_end,
                                    outcome.wall_lag_s, outcome.wall_time)
            self.captioned += 1
            self.lag_s.append(result.lag_s)
            self.wall_lag_s.append(result.wall_lag_s)
            self.total_ms.append(result.caption.total_ms)
            self.prefill_ms.append(result.caption.prefill_ms)
            self.decode_ms.append(result.caption.decode_ms)
        if self._on_result:
            self._on_result(result)

    def finish(self, drain: bool = False, timeout: float | None = 60.0) -> None:
        """Stop the worker. Without ``drain``, clips still queued are dropped (and counted); the
        caption in progress finishes. Waits up to ``timeout`` seconds (None: until done)."""
        left = self.worker.close(timeout, drain=drain)
        with self._lock:
            self._ended += len(left)

    def summary(self) -> dict:
        with self._lock:
            return {
                **self.vlm.describe(),
                "policy": self.policy.value,
                "submitted": self.submitted,
                "captioned": self.captioned,
                "dropped": self.admission.dropped + self._ended,
                "errors": self.errors,
                "latency_ms": {
                    stage: percentiles(h)
                    for stage, h in (("prefill", self.prefill_ms), ("decode", self.decode_ms), ("total", self.total_ms))
                },
                "lag_s": {"p50": percentile(self.lag_s, 50), "p95": percentile(self.lag_s, 95), "max": max(self.lag_s, default=None)},
                "wall_lag_s": {"p50": percentile(self.wall_lag_s, 50), "p95": percentile(self.wall_lag_s, 95)},
            }

    def close(self) -> None:
        if self._summary is not None:
            return
        self.finish(drain=False, timeout=60.0)
        self._summary = summary = self.summary()
        lag = summary["lag_s"]
        print(
            f"baseline VLM ({summary['note'] or summary['weights'] + ' weights'}): "
            f"{summary['captioned']} of {summary['submitted']} clips captioned, {summary['dropped']} dropped ({summary['policy']}); "
            f"caption p50 {summary['latency_ms']['total']['p50']} ms; lag behind the stream p50 {lag['p50']} s, max {lag['max']} s",
            file=sys.stderr,
            flush=True,
        )


def start_baseline(config: VLMConfig | None, publish: Callable[[dict], object]) -> BaselineObserver | None:
    """Load the VLM of ``config`` (``None``: no baseline, returns ``None``) and start its worker;
    returns the run observer. Weights that cannot load are a :class:`UsageError`."""
    if config is None:
        return None
    return BaselineObserver(open_vlm(config), lambda result: publish(baseline_event(result)), frames=config.frames).start()
