"""The baseline path: a VLM captions every clip in its own worker, beside the selective path.

Exports :class:`BaselineRequest`, :class:`BaselineResult`,
:class:`BaselineWorker`, :class:`BaselineObserver`, :func:`baseline_event`,
:func:`start_baseline` (its command-line options are in :mod:`pipelines.cli.options`).

The selective path never waits for the baseline: clips go to the worker through a bounded queue
(``max_queue``, default 4) with a named policy for when it is full. ``drop_oldest`` (the default)
keeps the newest clips, so the baseline follows the live edge and its lag stays bounded;
``drop_newest`` keeps a contiguous early run; ``wait`` blocks the producer and is only for
offline use where the selective path's timing does not matter.

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

from pipelines.vlm.loader import open_vlm
from pipelines.core.observers import RunObserver
from pipelines.percentiles import percentile, percentiles
from streamer.feed.events import BaselineCaptionEvent
from streamer.worker import BoundedWorker, OverflowPolicy

if TYPE_CHECKING:  # torch loads only when a baseline is asked for
    from models.vlm import VLMCaption, VLM, VLMConfig
    from pipelines.core.selective import ClipResult

__all__ = [
    "BaselineRequest",
    "BaselineResult",
    "BaselineWorker",
    "BaselineObserver",
    "baseline_event",
    "start_baseline",
]

log = logging.getLogger(__name__)

LAG_HISTORY = 4096


@dataclass(frozen=True)
class BaselineRequest:
    """One clip for the baseline: its newest ``images`` (RGB uint8) and when it was handed over."""

    source: str
    t_start: float
    t_end: float
    images: tuple[np.ndarray, ...]
    submitted: float  # time.monotonic()


@dataclass(frozen=True)
class BaselineResult:
    request: BaselineRequest
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


class BaselineWorker:
    """Caption clips in a thread. :meth:`submit` never blocks unless the policy is ``wait``.

    ``on_result`` is called from the worker thread with each :class:`BaselineResult`.
    ``max_queue``: clips waiting for the model (default 4; at most this many frames sets are held).
    """

    def __init__(
        self,
        vlm: VLM,
        on_result: Callable[[BaselineResult], None] | None = None,
        *,
        max_queue: int = 4,
        policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST,
    ):
        self.vlm = vlm
        self.on_result = on_result
        self._worker: BoundedWorker[BaselineRequest] = BoundedWorker(self._caption, max_queue=max_queue, policy=policy,
                                                                     name="baseline-vlm")
        self._lock = threading.Lock()
        self._head: dict[str, float] = {}  # source → media time of the newest clip handed over
        self.submitted = 0
        self.captioned = 0
        self.errors = 0
        self.lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.wall_lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.total_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.prefill_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.decode_ms: deque[float] = deque(maxlen=LAG_HISTORY)

    @property
    def policy(self) -> OverflowPolicy:
        return self._worker.policy

    @property
    def dropped(self) -> int:
        """Clips not captioned: refused or displaced by the policy, or still queued at :meth:`close`."""
        return self._worker.dropped

    def start(self) -> BaselineWorker:
        self._worker.start()
        return self

    def is_alive(self) -> bool:
        """Whether the worker thread runs (it ends at :meth:`close`)."""
        return self._worker.is_alive()

    def submit(self, source: str, t_start: float, t_end: float, images: list[np.ndarray]) -> bool:
        """Hand over one clip; return whether it was queued (a drop is counted in ``dropped``)."""
        request = BaselineRequest(source, t_start, t_end, tuple(images), time.monotonic())
        with self._lock:
            self.submitted += 1
            self._head[source] = max(self._head.get(source, t_end), t_end)
        return self._worker.submit(request)

    def _caption(self, item: BaselineRequest) -> None:
        """Caption one clip (on the worker thread) and hand the result to ``on_result``."""
        try:
            caption = self.vlm.caption(list(item.images))
        except Exception:  # a model failure must not stop the selective path
            log.exception("baseline caption failed at %.2f s", item.t_end)
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            head = self._head.get(item.source, item.t_end)
        result = BaselineResult(item, caption, head - item.t_end, time.monotonic() - item.submitted, time.time())
        with self._lock:
            self.captioned += 1
            self.lag_s.append(result.lag_s)
            self.wall_lag_s.append(result.wall_lag_s)
            self.total_ms.append(caption.total_ms)
            self.prefill_ms.append(caption.prefill_ms)
            self.decode_ms.append(caption.decode_ms)
        if self.on_result:
            self.on_result(result)

    def close(self, drain: bool = False, timeout: float | None = None) -> None:
        """Stop the worker. Without ``drain``, clips still queued are dropped (and counted); the
        caption in progress finishes. Waits up to ``timeout`` seconds (None: until done)."""
        self._worker.stop(drain=drain, timeout=timeout)

    def summary(self) -> dict:
        with self._lock:
            return {
                **self.vlm.describe(),
                "policy": self.policy.value,
                "submitted": self.submitted,
                "captioned": self.captioned,
                "dropped": self.dropped,
                "errors": self.errors,
                "latency_ms": {
                    stage: percentiles(h)
                    for stage, h in (("prefill", self.prefill_ms), ("decode", self.decode_ms), ("total", self.total_ms))
                },
                "lag_s": {"p50": percentile(self.lag_s, 50), "p95": percentile(self.lag_s, 95), "max": max(self.lag_s, default=None)},
                "wall_lag_s": {"p50": percentile(self.wall_lag_s, 50), "p95": percentile(self.wall_lag_s, 95)},
            }


class BaselineObserver(RunObserver):
    """The baseline's attachment to a run: hands every finished clip (its newest ``frames``
    frames) to a :class:`BaselineWorker`, whose ``baseline_caption`` events go to ``publish``
    from the worker's thread (the event bus is thread-safe). Submitting never blocks the run
    (the worker's queue and policy decide what waits). :meth:`close` stops the worker (clips
    still queued are dropped and counted) and prints one summary line on stderr."""

    def __init__(self, worker: BaselineWorker, frames: int = 1):
        self.worker = worker
        self._frames = max(1, frames)
        self.summary: dict | None = None

    def on_clip(self, result: ClipResult) -> None:
        images = [f.image for f in result.clip_frames[-self._frames:]]
        self.worker.submit(result.source, result.t_start, result.t_end, images)

    def close(self) -> None:
        if self.summary is not None:
            return
        self.worker.close(drain=False, timeout=60.0)
        self.summary = summary = self.worker.summary()
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
    worker = BaselineWorker(open_vlm(config), lambda result: publish(baseline_event(result))).start()
    return BaselineObserver(worker, frames=config.frames)
