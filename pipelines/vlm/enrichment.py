"""The ``vlm`` decoder: a fast caption first, the VLM's text later as an ``enrichment`` event.

Exports :class:`EnrichmentRequest`, :class:`EnrichmentWorker`, :class:`EnrichmentObserver`
and :func:`start_enrichment` (its model comes from :func:`pipelines.vlm.loader.load_decoder_vlm`).

At a decision the runner publishes the ``caption`` (retrieval labels) at once, as with the
``retrieval`` decoder, then hands the published caption (its ``seq``) and its frames to
:meth:`EnrichmentWorker.follow`, which never blocks on the model:

1. the source's budget (:class:`~pipelines.core.decode_budget.DecodeBudget`, media time) admits the
   decision or not; a refused one gets an ``enrichment`` with state ``skipped`` at once;
2. an admitted one takes the source's one pending slot: a request still waiting there is
   superseded (the newest wins; the old caption gets ``skipped``). At most ``max_pending``
   sources wait at once; past that the oldest waiting request is skipped. Only the newest frame
   of the caption is held, and the previous caption's frame per source (for the "what
   changed" prompt), so memory is bounded by ``max_pending`` + the number of sources;
3. the worker thread takes the oldest waiting request and runs the VLM with ``max_time_s =
   timeout_s`` (generation cannot be killed, so it is stopped at the first token past the
   limit): ``done`` with the text, ``timeout`` or ``failed`` with a one-line ``detail`` (and a
   log line). The caption stands whatever happens.

Every caption a ``vlm`` run hands over thus gets exactly one ``enrichment`` (unless the process
dies), with the caption's seq in ``caption_seq``. :meth:`EnrichmentWorker.close` waits (up to
``end_wait_s``) for what is pending and skips the rest, so a replay says how many it dropped.
CPU time is the worker thread's (``time.thread_time``): torch's intra-op helper threads are not
in it, so it is a lower bound of the decoder's CPU (measured here equal to the process's CPU over
the same calls, ``benchmarks/bench_vlm_decoder.py``). The worker thread runs at niceness
``nice`` (Linux), so on a busy CPU the pipeline's steps are scheduled before the VLM.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipelines.core.decode_budget import DecodeBudget
from pipelines.decoder_config import VLMDecoderConfig
from pipelines.vlm.loader import load_decoder_vlm
from streamer.worker import BoundedWorker, OverflowPolicy
from pipelines.core.observers import RunObserver
from streamer.feed.events import EnrichmentEvent

if TYPE_CHECKING:  # torch loads only when the vlm decoder is asked for
    from models.vlm import VLM
    from pipelines.core.selective import ClipResult

__all__ = ["EnrichmentRequest", "EnrichmentWorker", "EnrichmentObserver", "start_enrichment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrichmentRequest:
    """One admitted caption for the VLM: ``images`` (RGB uint8; the previous caption's frame
    first when ``change``), the ``prompt`` to ask, and when the decision was handed over."""

    source: str
    caption_seq: int
    t: float
    images: tuple[np.ndarray, ...]
    prompt: str
    change: bool
    decided: float  # time.monotonic() when the caption was handed over


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class _Counts:
    """One source's counts (read by :meth:`EnrichmentWorker.stats`)."""

    def __init__(self, config: VLMDecoderConfig):
        self.budget = DecodeBudget(config.max_per_minute, config.burst)
        self.previous: np.ndarray | None = None  # the newest frame of the source's previous caption
        self.coalesced = self.done = self.failed = self.timeout = self.dropped = 0
        self.cpu_s = 0.0


class EnrichmentWorker:
    """The VLM in its own thread; :meth:`follow` is called by the runner after each caption.

    ``vlm`` is a :class:`~models.vlm.VLM` (anything with its ``caption``,
    ``weights``, ``note`` and ``describe``); ``publish`` gets every ``enrichment`` event (from
    the runner's thread for skips, from the worker's for texts; the event bus is thread-safe).
    ``frames`` is how many frames the model is shown (2 with a change prompt, else 1)."""

    def __init__(self, vlm: VLM, publish: Callable[[dict], object], config: VLMDecoderConfig):
        self.vlm = vlm
        self.config = config
        self._publish = publish
        self._model = vlm.describe().get("source", "vlm")
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, EnrichmentRequest] = OrderedDict()  # source → its newest waiting request
        self._busy: EnrichmentRequest | None = None
        self._closing = False
        self._closed = False  # after close(): nothing more is published
        self._counts: dict[str, _Counts] = {}
        # The thread: a token in a queue of one says "something is pending"; the handler takes
        # requests until none is left, so a request admitted meanwhile always finds a token queued.
        self._worker: BoundedWorker[bool] = BoundedWorker(self._drain, max_queue=1, policy=OverflowPolicy.DROP_NEWEST,
                                                          name="vlm-decoder")
        self._niced = False

    def start(self) -> EnrichmentWorker:
        self._worker.start()
        return self

    @property
    def native_id(self) -> int | None:
        """The operating system's id of the worker thread (its niceness is ``nice``)."""
        return self._worker.native_id

    # -- the runner's side: never waits for the model ---------------------------------------

    def follow(self, caption: Mapping, result: ClipResult) -> None:
        """Take a published ``caption`` event (with its ``seq``) and the clip result it came from."""
        source, seq, t = caption["source"], int(caption["seq"]), float(caption["t"])
        skips: list[tuple[EnrichmentRequest | tuple[str, int, float], str]] = []
        with self._cond:
            counts = self._counts.setdefault(source, _Counts(self.config))
            if self._closing:
                skips.append(((source, seq, t), "the run ended before the VLM was free"))
            elif not result.caption_frames:
                skips.append(((source, seq, t), "the caption has no frames"))
            else:
                frame = result.caption_frames[-1].image
                previous, counts.previous = counts.previous, frame
                drift = caption.get("drift")  # null when the detector had none (a start)
                verdict = counts.budget.admit(t, 0.0 if drift is None else float(drift))
                if not verdict.admitted:
                    skips.append(((source, seq, t), verdict.why))
                else:
                    change = previous is not None and bool(self.config.change_prompt)
                    images = (previous, frame) if change else (frame,)
                    prompt = self.config.change_prompt if change else self.config.prompt
                    request = EnrichmentRequest(source, seq, t, images, prompt, change, time.monotonic())
                    old = self._pending.pop(source, None)
                    if old is not None:
                        counts.coalesced += 1
                        skips.append((old, f"superseded by caption seq {seq} before the VLM was free"))
                    elif len(self._pending) >= self.config.max_pending:
                        _, oldest = self._pending.popitem(last=False)
                        self._counts[oldest.source].dropped += 1
                        skips.append((oldest, f"{self.config.max_pending} sources were waiting for the VLM (max_pending)"))
                    self._pending[source] = request
        if not self._closing:
            self._worker.submit(True)
        for what, why in skips:
            self._skip(what, why)

    def _skip(self, what: EnrichmentRequest | tuple[str, int, float], why: str) -> None:
        source, seq, t = (what.source, what.caption_seq, what.t) if isinstance(what, EnrichmentRequest) else what
        self._emit(EnrichmentEvent(source, seq, t, "skipped", None, why, self._model, self.vlm.weights, self.vlm.note,
                                   change=isinstance(what, EnrichmentRequest) and what.change))

    def _emit(self, event: EnrichmentEvent) -> None:
        try:
            self._publish(event.to_dict())
        except Exception:  # a sink or log failure must not stop the decoder
            log.exception("could not publish the enrichment of caption seq %d", event.caption_seq)

    # -- the worker's side ---------------------------------------------------------------------

    def _lower_priority(self) -> None:
        """Run this thread (the worker's) at niceness ``nice``, once."""
        self._niced = True
        if self.config.nice and hasattr(os, "setpriority"):
            try:  # on Linux a thread id is a process id for setpriority: this thread only
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.config.nice)
            except OSError as exc:
                log.warning("could not lower the VLM thread's priority (nice %d): %s", self.config.nice, exc)

    def _drain(self, _token: bool) -> None:
        """Decode the waiting requests, oldest source first, until none is left (on the worker thread)."""
        if not self._niced:
            self._lower_priority()
        while True:
            with self._cond:
                if not self._pending:
                    return
                _, request = self._pending.popitem(last=False)
                self._busy = request
            event = self._decode(request)
            with self._cond:  # one block: close() either skipped this request already or will not
                closed, self._busy = self._closed, None
                counts = self._counts[request.source]
                counts.cpu_s += event.cpu_s or 0.0
                if not closed:
                    setattr(counts, event.state, getattr(counts, event.state) + 1)
                self._cond.notify_all()
            if not closed:
                self._emit(event)

    def _decode(self, request: EnrichmentRequest) -> EnrichmentEvent:
        limit = self.config.timeout_s
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        try:
            c = self.vlm.caption(list(request.images), prompt=request.prompt, max_time_s=limit)
        except Exception as exc:  # the caption stands; one line says why
            detail = f"the VLM failed: {_one_line(exc)}"
            log.warning("%s: enrichment of caption seq %d: %s", request.source, request.caption_seq, detail)
            state, text, tokens, latency_ms = "failed", None, None, (time.perf_counter() - wall0) * 1e3
        else:
            tokens, latency_ms = len(c.token_ids), c.total_ms
            if c.timed_out:
                detail = f"the VLM passed timeout_s ({limit:g} s): stopped after {tokens} of {self.config.max_new_tokens} tokens"
                log.warning("%s: enrichment of caption seq %d: %s", request.source, request.caption_seq, detail)
                state, text = "timeout", None
            else:
                state, text, detail = "done", c.text, None
        return EnrichmentEvent(
            request.source, request.caption_seq, request.t, state, text, detail, self._model, self.vlm.weights, self.vlm.note,
            change=request.change, latency_ms=latency_ms, cpu_s=time.thread_time() - cpu0,
            lag_s=time.monotonic() - request.decided, tokens=tokens,
        )

    # -- reading and ending --------------------------------------------------------------------

    def stats(self, source: str) -> dict | None:
        """The ``decoder`` figures of ``source``'s ``stats`` event (``None`` before its first caption)."""
        with self._cond:
            c = self._counts.get(source)
            if c is None:
                return None
            return {
                "type": "vlm",
                "budget_per_minute": self.config.max_per_minute,
                "spent_last_minute": c.budget.spent_last_minute(),
                "admitted": c.budget.admitted,
                "over_budget": c.budget.refused,
                "coalesced": c.coalesced,
                "done": c.done,
                "failed": c.failed,
                "timeout": c.timeout,
                "pending": int(source in self._pending),
                "cpu_s": round(c.cpu_s, 4),
            }

    def summary(self) -> dict:
        """Counts over every source, with what the model is."""
        with self._cond:
            keys = ("coalesced", "done", "failed", "timeout", "dropped")
            out = {k: sum(getattr(c, k) for c in self._counts.values()) for k in keys}
            out["admitted"] = sum(c.budget.admitted for c in self._counts.values())
            out["over_budget"] = sum(c.budget.refused for c in self._counts.values())
            out["cpu_s"] = round(sum(c.cpu_s for c in self._counts.values()), 4)
            out["pending"] = len(self._pending) + (self._busy is not None)
        return {**self.vlm.describe(), **out}

    def close(self, wait_s: float | None = None) -> int:
        """Stop taking captions, wait up to ``wait_s`` (default ``end_wait_s``) for those pending
        and the one in progress, skip the rest (state ``skipped``, counted in ``dropped``) and
        return how many were dropped. A generation still running then ends on its own (its text
        is not published: the run is over)."""
        wait_s = self.config.end_wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while (self._pending or self._busy is not None) and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            rest = list(self._pending.values())
            self._pending.clear()
            busy = self._busy
            self._closed = True  # a generation still running is not published when it ends
            for r in rest + ([busy] if busy else []):
                self._counts[r.source].dropped += 1
        for r in rest + ([busy] if busy else []):
            self._skip(r, f"the run ended before the VLM was free (waited {wait_s:g} s, end_wait_s)")
        self._worker.stop(drain=False, timeout=wait_s + 1.0, join=busy is None)  # without a generation running, it ends now
        return len(rest) + (busy is not None)


class EnrichmentObserver(RunObserver):
    """The ``vlm`` decoder's attachment to a run: each published caption goes to the worker's
    :meth:`~EnrichmentWorker.follow`; its figures are the ``decoder`` of each ``stats`` event.
    :meth:`close` waits for pending texts (``end_wait_s``), prints one summary line on stderr
    and keeps the summary in ``summary``."""

    def __init__(self, worker: EnrichmentWorker):
        self.worker = worker
        self.summary: dict | None = None

    def on_caption(self, event: Mapping, result: ClipResult) -> None:
        self.worker.follow(event, result)

    def stats(self, source: str) -> dict:
        return {"decoder": self.worker.stats(source)}

    def close(self) -> None:
        if self.summary is not None:
            return
        dropped = self.worker.close()
        self.summary = s = self.worker.summary()
        print(
            f"VLM decoder ({s['note'] or s['weights'] + ' weights'}): {s['done']} texts, "
            f"{s['over_budget']} over budget, {s['coalesced']} superseded, {s['failed']} failed, {s['timeout']} timed out, "
            f"{dropped} dropped at the end; decoder CPU {s['cpu_s']:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def start_enrichment(config: VLMDecoderConfig, publish: Callable[[dict], object]) -> EnrichmentObserver:
    """Load the VLM of ``config`` and start its worker, whose ``enrichment`` events go to
    ``publish``; returns the run observer. Weights that cannot load are a :class:`UsageError`
    naming ``model.decoder.vlm.weights``."""
    return EnrichmentObserver(EnrichmentWorker(load_decoder_vlm(config), publish, config).start())
