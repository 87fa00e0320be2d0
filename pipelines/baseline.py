"""The baseline path: a VLM captions every clip in its own worker, beside the selective path.

Exports :class:`DropPolicy`, :class:`BaselineRequest`, :class:`BaselineResult`,
:class:`BaselineWorker`, :class:`BaselineTap`, :func:`baseline_event`,
:func:`add_baseline_options`, :func:`baseline_config`, :func:`format_baseline` and
:func:`attach_baselines`.

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

import argparse
import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from pipelines.errors import UsageError
from pipelines.events import EVENT_VERSION
from pipelines.percentiles import percentile, percentiles
from streamer.frames import Frame

if TYPE_CHECKING:  # torch loads only when a baseline is asked for
    from models.baseline_vlm import BaselineCaption, BaselineVLM

__all__ = [
    "DropPolicy",
    "BaselineRequest",
    "BaselineResult",
    "BaselineWorker",
    "BaselineTap",
    "baseline_event",
    "add_baseline_options",
    "baseline_config",
    "format_baseline",
    "attach_baselines",
]

log = logging.getLogger(__name__)

LAG_HISTORY = 4096
_STOP = object()  # the sentinel that ends the worker's queue


class DropPolicy(str, Enum):
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    WAIT = "wait"


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
    caption: BaselineCaption
    lag_s: float  # media seconds the stream's head is past this clip when the caption is ready
    wall_lag_s: float  # wall seconds from hand-over to caption
    wall_time: float


def baseline_event(result: BaselineResult) -> dict:
    """The ``baseline_caption`` event of one result (emitted only when a baseline runs)."""
    r, c = result.request, result.caption
    return {
        "v": EVENT_VERSION,
        "type": "baseline_caption",
        "source": r.source,
        "t": round(r.t_end, 6),
        "t_start": round(r.t_start, 6),
        "t_end": round(r.t_end, 6),
        "wall_time": round(result.wall_time, 6),
        "text": c.text,
        "weights": c.weights,
        "note": c.note,
        "lag_s": round(result.lag_s, 3),
        "wall_lag_s": round(result.wall_lag_s, 3),
        "latency_ms": {"prefill": round(c.prefill_ms, 3), "decode": round(c.decode_ms, 3), "total": round(c.total_ms, 3)},
    }


class BaselineWorker:
    """Caption clips in a thread. :meth:`submit` never blocks unless the policy is ``wait``.

    ``on_result`` is called from the worker thread with each :class:`BaselineResult`.
    ``max_queue``: clips waiting for the model (default 4; at most this many frames sets are held).
    """

    def __init__(
        self,
        vlm: BaselineVLM,
        on_result: Callable[[BaselineResult], None] | None = None,
        *,
        max_queue: int = 4,
        policy: DropPolicy = DropPolicy.DROP_OLDEST,
    ):
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        self.vlm = vlm
        self.on_result = on_result
        self.policy = DropPolicy(policy)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._head: dict[str, float] = {}  # source → media time of the newest clip handed over
        self._thread = threading.Thread(target=self._run, name="baseline-vlm", daemon=True)
        self.submitted = 0
        self.captioned = 0
        self.dropped = 0
        self.errors = 0
        self.lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.wall_lag_s: deque[float] = deque(maxlen=LAG_HISTORY)
        self.total_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.prefill_ms: deque[float] = deque(maxlen=LAG_HISTORY)
        self.decode_ms: deque[float] = deque(maxlen=LAG_HISTORY)

    def start(self) -> BaselineWorker:
        self._thread.start()
        return self

    def submit(self, source: str, t_start: float, t_end: float, images: list[np.ndarray]) -> bool:
        """Hand over one clip; return whether it was queued (a drop is counted in ``dropped``)."""
        request = BaselineRequest(source, t_start, t_end, tuple(images), time.monotonic())
        with self._lock:
            self.submitted += 1
            self._head[source] = max(self._head.get(source, t_end), t_end)
        if self.policy is DropPolicy.WAIT:
            self._queue.put(request)
            return True
        while True:
            try:
                self._queue.put_nowait(request)
                return True
            except queue.Full:
                if self.policy is DropPolicy.DROP_NEWEST:
                    with self._lock:
                        self.dropped += 1
                    return False
                try:
                    self._queue.get_nowait()
                    with self._lock:
                        self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                caption = self.vlm.caption(list(item.images))
            except Exception:  # a model failure must not stop the selective path
                log.exception("baseline caption failed at %.2f s", item.t_end)
                with self._lock:
                    self.errors += 1
                continue
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
        if not drain:
            while True:
                try:
                    self._queue.get_nowait()
                    with self._lock:
                        self.dropped += 1
                except queue.Empty:
                    break
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

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


class BaselineTap:
    """Wraps a :class:`~pipelines.selective.SelectivePipeline`: every clip it finishes is also
    handed to a :class:`BaselineWorker` (its newest ``frames`` frames). Everything else is the
    pipeline's own; the runner uses the tap as it would the pipeline.

    Baseline captions are published from the caller's thread (the one feeding frames), at the
    next frame or at :meth:`drain`, so outputs never see two threads at once. At most
    ``max_pending`` (default 64) finished captions wait; older ones are dropped from the events
    (they still count in the worker's summary). Several taps of one worker share its results
    through ``done`` (a bounded deque the caller made the worker's ``on_result``)."""

    def __init__(
        self,
        pipeline,
        worker: BaselineWorker,
        publish: Callable[[dict], object] | None = None,
        frames: int = 1,
        done: deque | None = None,
        max_pending: int = 64,
    ):
        self._pipeline = pipeline
        self._worker = worker
        self._publish = publish
        self._recent: deque[Frame] = deque(maxlen=max(1, frames))
        self._pending: Frame | None = None
        if done is None:  # the only tap of this worker: it collects the results itself
            done = deque(maxlen=max_pending)
            worker.on_result = done.append  # deque.append is atomic across threads
        self._done: deque[BaselineResult] = done

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def drain(self) -> None:
        """Publish the baseline captions finished so far."""
        while self._done:
            result = self._done.popleft()
            if self._publish:
                self._publish(baseline_event(result))

    def _hand_over(self, result) -> None:
        images = [f.image for f in self._recent if f.pts < result.t_end + 1e-9]
        if images:
            self._worker.submit(result.source, result.t_start, result.t_end, images)

    def feed(self, frame: Frame, dropped_frames: int = 0):
        self.drain()
        results = self._pipeline.feed(frame, dropped_frames)
        for r in results:
            self._hand_over(r)
        self._recent.append(frame)
        return results

    def close_clips(self, frame: Frame, dropped_frames: int = 0):
        self.drain()
        if self._pending is not None:
            self._recent.append(self._pending)
        self._pending = frame
        return self._pipeline.close_clips(frame, dropped_frames)

    def finish_clip(self, clip, encode_ms: float):
        result = self._pipeline.finish_clip(clip, encode_ms)
        self._hand_over(result)
        return result


def add_baseline_options(parser: argparse.ArgumentParser) -> None:
    """``--baseline vlm|none`` and ``--baseline-weights random|DIR|ID`` (and the caption length)."""
    group = parser.add_argument_group("baseline VLM (captions every clip, for comparison)")
    group.add_argument("--baseline", choices=("vlm", "none"), default="none", help="also caption every clip with SmolVLM in a worker (default: none)")
    group.add_argument(
        "--baseline-weights",
        default="random",
        metavar="random|DIR|ID",
        help="pretrained SmolVLM from a directory or Hugging Face id, or 'random': the SmolVLM-256M architecture "
        "with random weights, a latency-only stand-in whose captions are token ids ('random:tiny': a toy size "
        "of the same classes, for tests) (default: random)",
    )
    group.add_argument("--baseline-max-new-tokens", type=int, default=20, metavar="N", help="tokens per baseline caption (default 20)")


def baseline_config(args: argparse.Namespace):
    """The :class:`~models.baseline_vlm.BaselineVLMConfig` the options ask for (``None`` for none)."""
    from models.baseline_vlm import BaselineVLMConfig

    if getattr(args, "baseline", "none") != "vlm":
        return None

    weights, preset = args.baseline_weights, "smolvlm-256m"
    if weights.startswith("random:"):  # random:tiny is the toy architecture the tests use
        weights, preset = "random", weights.split(":", 1)[1]
    try:
        return BaselineVLMConfig(weights=weights, preset=preset, max_new_tokens=args.baseline_max_new_tokens)
    except ValueError as exc:
        raise UsageError(f"--baseline: {exc}") from None


def format_baseline(event: dict) -> str:
    """One terminal line for a ``baseline_caption`` event."""
    weights = "random weights: token ids" if event["weights"] == "random" else "pretrained"
    return (
        f"[{event['t']:8.2f} s] {event['source']}  baseline  ({weights}; {event['latency_ms']['total'] / 1e3:.1f} s, "
        f"lag {event['lag_s']:.1f} s)  {event['text']}"
    )


def attach_baselines(args: argparse.Namespace, pipelines: dict, publish: Callable[[dict], object] | None = None):
    """Wrap each pipeline of ``pipelines`` (source id → pipeline) with one shared baseline worker
    when ``--baseline vlm`` was given.

    Returns ``(pipelines, finish)``. Baseline captions go to ``publish`` as ``baseline_caption``
    event dicts (default: one line each on stdout). Call ``finish()`` when the run ends: it stops
    the worker (clips still queued are dropped and counted), prints one summary line on stderr
    and returns the summary dict (``None`` without a baseline)."""
    config = baseline_config(args)
    if config is None:
        return pipelines, lambda: None
    from models.baseline_vlm import load_baseline_vlm

    try:
        vlm = load_baseline_vlm(config)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if publish is None:
        def publish(event: dict) -> None:
            print(format_baseline(event), flush=True)

    worker = BaselineWorker(vlm).start()
    # One worker, several taps: each tap's drain publishes what any of them finished first.
    done: deque = deque(maxlen=64)
    worker.on_result = done.append
    taps = {sid: BaselineTap(p, worker, publish, frames=config.frames, done=done) for sid, p in pipelines.items()}

    def finish() -> dict:
        worker.close(drain=False, timeout=60.0)
        next(iter(taps.values())).drain()
        summary = worker.summary()
        lag = summary["lag_s"]
        print(
            f"baseline VLM ({summary['weights']} weights{'; ' + summary['note'] if summary['note'] else ''}): "
            f"{summary['captioned']} of {summary['submitted']} clips captioned, {summary['dropped']} dropped ({summary['policy']}); "
            f"caption p50 {summary['latency_ms']['total']['p50']} ms; lag behind the stream p50 {lag['p50']} s, max {lag['max']} s",
            file=sys.stderr,
            flush=True,
        )
        return summary

    return taps, finish
