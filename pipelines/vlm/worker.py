"""The one thread that runs the VLM: :class:`VLMWorker`, fed through an admission policy.

Exports :class:`VLMJob`, :class:`Verdict`, :class:`Admission`, :class:`VLMResult`,
:class:`VLMWorker`, :func:`caption_each` and :data:`ENDED`.

The worker runs the model; an :class:`Admission` (:mod:`pipelines.vlm.admission`: "every clip"
or "on caption") decides what waits for it. :meth:`VLMWorker.submit` hands an offer to the
policy under the worker's lock and never waits for the model (only a policy that answers
``wait``, for offline use, makes the producer wait for room). The thread takes the policy's next
job, runs :meth:`~models.vlm.VLM.caption` on it with the job's prompt and ``max_time_s``, and
hands a :class:`VLMResult` to ``on_result`` (from the worker's thread) with the timings: the
model's prefill/decode/total, ``cpu_s`` (the worker thread's ``time.thread_time``: torch's
intra-op helpers are not in it, so a lower bound) and ``wall_lag_s`` (hand-over to result). A
model failure is a result with state ``failed`` and a one-line ``error``; the worker goes on. The
thread runs at niceness ``nice`` (Linux), so on a busy CPU the pipeline's steps come first.

:meth:`VLMWorker.close` stops taking offers, waits a bounded time, and returns the jobs that will
never get a result (still waiting, or still running: such a generation ends on its own, and its
result is not handed over).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from streamer.worker import BoundedWorker, OverflowPolicy

if TYPE_CHECKING:  # torch loads only when a VLM is asked for
    from models.vlm import VLM, VLMCaption

__all__ = ["VLMJob", "Verdict", "Admission", "VLMResult", "VLMWorker", "caption_each", "ENDED"]

log = logging.getLogger(__name__)

ENDED = "the run ended before the VLM was free"  # why an offer made after close is turned away


class VLMJob(Protocol):
    """What the worker needs of a job: its frames (RGB uint8), its prompt (None: the model's own)
    and when it was handed over (``time.monotonic()``)."""

    source: str
    images: tuple[np.ndarray, ...]
    prompt: str | None
    submitted: float


@dataclass(frozen=True)
class Verdict:
    """A policy's answer to one offer: whether it now waits for the model, what it turned away
    (``(offer or job, why)``: the offer refused, or jobs it superseded or displaced), and
    ``wait``: the policy is full and the producer should wait for room, then offer again."""

    admitted: bool
    turned_away: tuple[tuple[object, str], ...] = ()
    wait: bool = False


class Admission(Protocol):
    """What waits for the model. :class:`VLMWorker` calls every method under its lock."""

    def admit(self, offer) -> Verdict: ...

    def take(self) -> VLMJob | None:
        """The next job for the model, removed (None when nothing waits)."""

    def clear(self) -> list[VLMJob]:
        """Every waiting job, removed (at close)."""

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class VLMResult:
    """One job run: the ``caption`` (None when the model raised; ``error`` says why in one
    line), the wall ``latency_ms`` (the model's ``total_ms``, or until the failure), the worker
    thread's ``cpu_s``, ``wall_lag_s`` from hand-over to result, and the result's ``wall_time``."""

    job: VLMJob
    caption: VLMCaption | None
    error: str | None
    latency_ms: float
    cpu_s: float
    wall_lag_s: float
    wall_time: float

    @property
    def state(self) -> str:
        """``done``, ``timeout`` (stopped by ``max_time_s``) or ``failed``."""
        if self.caption is None:
            return "failed"
        return "timeout" if self.caption.timed_out else "done"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class VLMWorker:
    """The VLM in its own thread, fed by ``admission``; ``on_result`` gets each :class:`VLMResult`.

    ``max_time_s``: the model's time limit per job (None: none; generation stops at the first
    token past it). ``nice``: the thread's niceness (0: unchanged). ``name`` names the thread.
    """

    def __init__(self, vlm: VLM, admission: Admission, on_result: Callable[[VLMResult], None], *,
                 max_time_s: float | None = None, nice: int = 0, name: str = "vlm"):
        self.vlm, self.admission = vlm, admission
        self._on_result = on_result
        self._max_time_s, self._nice = max_time_s, nice
        self._cond = threading.Condition()
        self._busy: VLMJob | None = None
        self._delivering = 0  # results being handed to on_result
        self._closing = False
        self._closed = False  # after close(): no result is handed over
        # A token in a queue of one says "something waits"; the handler takes jobs until none is
        # left, so a job admitted meanwhile always finds a token queued.
        self._thread: BoundedWorker[bool] = BoundedWorker(self._drain, max_queue=1, policy=OverflowPolicy.DROP_NEWEST,
                                                          name=name)
        self._niced = False

    def start(self) -> VLMWorker:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        """Whether the thread runs (it ends at :meth:`close`, once a generation in progress ends)."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds for the thread to end after :meth:`close`."""
        self._thread.join(timeout)

    @property
    def native_id(self) -> int | None:
        """The operating system's id of the thread (its niceness is ``nice``)."""
        return self._thread.native_id

    @property
    def pending(self) -> int:
        """Jobs waiting for the model, and the one it runs."""
        with self._cond:
            return len(self.admission) + (self._busy is not None)

    def submit(self, offer) -> Verdict:
        """Offer ``offer`` to the policy; the verdict says what was admitted and turned away.
        After :meth:`close` began, every offer is turned away (:data:`ENDED`)."""
        with self._cond:
            while True:
                if self._closing:
                    return Verdict(False, ((offer, ENDED),))
                verdict = self.admission.admit(offer)
                if not verdict.wait:
                    break
                self._cond.wait()  # woken when the worker takes a job, or at close
        if verdict.admitted:
            self._thread.submit(True)
        return verdict

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) until nothing waits, runs or is being
        handed over; return whether that came."""
        with self._cond:
            return self._cond.wait_for(lambda: not (len(self.admission) or self._busy is not None or self._delivering), timeout)

    def close(self, wait_s: float | None, drain: bool = True) -> list[VLMJob]:
        """Stop taking offers; wait up to ``wait_s`` seconds (None: until done) for the jobs
        waiting (``drain``; without it they are removed at once) and the one running; return the
        jobs that will get no result. Idempotent (a second call returns [])."""
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self._cond:
            if self._closing:
                return []
            self._closing = True
            rest = [] if drain else self.admission.clear()
            self._cond.notify_all()
            while len(self.admission) or self._busy is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            rest += self.admission.clear()
            busy, self._closed = self._busy, True
        self._thread.stop(drain=False, timeout=None if wait_s is None else wait_s + 1.0, join=busy is None)
        return rest + ([busy] if busy is not None else [])

    # -- the worker's thread ------------------------------------------------------------------

    def _lower_priority(self) -> None:
        """Run this thread (the worker's) at niceness ``nice``, once."""
        self._niced = True
        if self._nice and hasattr(os, "setpriority"):
            try:  # on Linux a thread id is a process id for setpriority: this thread only
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except OSError as exc:
                log.warning("could not lower the VLM thread's priority (nice %d): %s", self._nice, exc)

    def _drain(self, _token: bool) -> None:
        """Run the policy's jobs until none is left, handing each result over unless closed."""
        if not self._niced:
            self._lower_priority()
        while True:
            with self._cond:
                job = self.admission.take()
                if job is None:
                    return
                self._busy = job
                self._cond.notify_all()  # a waiting producer has room
            result = self._run(job)
            with self._cond:  # one block: close() either counted this job already or will not
                deliver = not self._closed
                self._busy = None
                self._delivering += deliver
                self._cond.notify_all()
            if deliver:
                self._deliver(result)

    def _deliver(self, result: VLMResult) -> None:
        """Hand ``result`` to ``on_result``; its failure is logged and the worker goes on."""
        try:
            self._on_result(result)
        except Exception:
            log.exception("%s: the result of a job could not be handed over", self._thread.name)
        finally:
            with self._cond:
                self._delivering -= 1
                self._cond.notify_all()

    def _run(self, job: VLMJob) -> VLMResult:
        """Run the model on ``job`` and time it (on the worker's thread)."""
        kwargs = {k: v for k, v in (("prompt", job.prompt), ("max_time_s", self._max_time_s)) if v is not None}
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        caption, error = None, None
        try:
            caption = self.vlm.caption(list(job.images), **kwargs)
        except Exception as exc:  # the caller's path goes on; the result says why in one line
            error = _one_line(exc)
        latency_ms = caption.total_ms if caption is not None else (time.perf_counter() - wall0) * 1e3
        return VLMResult(job, caption, error, latency_ms, time.thread_time() - cpu0,
                         time.monotonic() - job.submitted, time.time())


def caption_each(vlm: VLM, admission: Admission, offers: Iterable, *, max_time_s: float | None = None,
                 nice: int = 0, wait_s: float = 600.0) -> Iterator[VLMResult]:
    """Run ``offers`` through a fresh :class:`VLMWorker` one at a time, so every timing is the
    model's alone; yield each offer's result as it comes (None for an offer the policy turned
    away). An offer whose job does not end in ``wait_s`` seconds ends the run."""
    results: list[VLMResult] = []
    worker = VLMWorker(vlm, admission, results.append, max_time_s=max_time_s, nice=nice, name="vlm-bench").start()
    try:
        for offer in offers:
            if not worker.submit(offer).admitted:
                yield None
            elif not worker.wait_idle(wait_s):
                return
            else:
                yield results.pop()
    finally:
        worker.close(wait_s=0.0)
