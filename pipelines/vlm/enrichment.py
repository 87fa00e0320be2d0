"""The ``vlm`` decoder: a fast caption first, the VLM's text later as an ``enrichment`` event.

Exports :class:`EnrichmentObserver` and :func:`start_enrichment` (its model comes from
:func:`pipelines.vlm.loader.load_decoder_vlm`).

At a decision the runner publishes the ``caption`` (retrieval labels) at once, as with the
``retrieval`` decoder, then hands the published caption (its ``seq``) and its frames to
:meth:`EnrichmentObserver.follow`, which never blocks on the model. The admission "on caption"
(:class:`~pipelines.vlm.admission.OnCaption`: the per-source budget, one pending slot per source
where the newest wins, ``max_pending``, the "what changed" prompt) decides what waits; whatever
it turns away gets an ``enrichment`` with state ``skipped`` and its reason at once. The
:class:`~pipelines.vlm.worker.VLMWorker` runs the model with ``max_time_s = timeout_s``
(generation cannot be killed, so it is stopped at the first token past the limit): ``done``
with the text, ``timeout`` or ``failed`` with a one-line ``detail`` (and a log line). The
caption stands whatever happens.

Every caption a ``vlm`` run hands over thus gets exactly one ``enrichment`` (unless the process
dies), with the caption's seq in ``caption_seq``. :meth:`EnrichmentObserver.finish` waits (up to
``end_wait_s``) for what is pending and skips the rest, so a replay says how many it dropped.
CPU time is the worker thread's (``time.thread_time``, a lower bound of the decoder's CPU:
measured here equal to the process's CPU over the same calls, ``benchmarks/bench_vlm_decoder.py``);
the thread runs at niceness ``nice`` (Linux), so on a busy CPU the pipeline's steps come first.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pipelines.core.observers import RunObserver
from pipelines.decoder_config import VLMDecoderConfig
from pipelines.vlm.admission import CaptionJob, CaptionOffer, OnCaption
from pipelines.vlm.loader import load_decoder_vlm
from pipelines.vlm.worker import ENDED, VLMResult, VLMWorker
from streamer.feed.events import EnrichmentEvent

if TYPE_CHECKING:  # torch loads only when the vlm decoder is asked for
    from models.vlm import VLM
    from pipelines.core.selective import ClipResult

__all__ = ["EnrichmentObserver", "start_enrichment"]

log = logging.getLogger(__name__)

_STATES = ("done", "failed", "timeout")


class EnrichmentObserver(RunObserver):
    """The ``vlm`` decoder's attachment to a run: each published caption goes to :meth:`follow`;
    its figures are the ``decoder`` of each ``stats`` event. ``vlm`` is a
    :class:`~models.vlm.VLM` (anything with its ``caption``, ``weights``, ``note`` and
    ``describe``); ``publish`` gets every ``enrichment`` event (from the runner's thread for
    skips, from the worker's for texts; the event bus is thread-safe). :meth:`close` waits for
    pending texts (``end_wait_s``) and prints one summary line on stderr."""

    def __init__(self, vlm: VLM, publish: Callable[[dict], object], config: VLMDecoderConfig):
        self.vlm, self.config = vlm, config
        self._publish = publish
        self._model = vlm.describe().get("source", "vlm")
        self.admission = OnCaption(config)
        self.worker = VLMWorker(vlm, self.admission, self._ran, max_time_s=config.timeout_s, nice=config.nice,
                                name="vlm-decoder")
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, float]] = {}  # source → done, failed, timeout, cpu_s
        self._closed = False

    def start(self) -> EnrichmentObserver:
        self.worker.start()
        return self

    def on_caption(self, event: Mapping, result: ClipResult) -> None:
        self.follow(event, result)

    def follow(self, caption: Mapping, result: ClipResult) -> None:
        """Take a published ``caption`` event (with its ``seq``) and the clip result it came from."""
        frame = result.caption_frames[-1].image if result.caption_frames else None
        drift = caption.get("drift")  # null when the detector had none (a start)
        offer = CaptionOffer(caption["source"], int(caption["seq"]), float(caption["t"]),
                             None if drift is None else float(drift), frame, time.monotonic())
        for what, why in self.worker.submit(offer).turned_away:
            self._skip(what, why)

    def _skip(self, what: CaptionOffer | CaptionJob, why: str) -> None:
        self._emit(EnrichmentEvent(what.source, what.caption_seq, what.t, "skipped", None, why, self._model,
                                   self.vlm.weights, self.vlm.note, change=what.change))

    def _emit(self, event: EnrichmentEvent) -> None:
        try:
            self._publish(event.to_dict())
        except Exception:  # a sink or log failure must not stop the decoder
            log.exception("could not publish the enrichment of caption seq %d", event.caption_seq)

    def _ran(self, outcome: VLMResult) -> None:
        """Count one result and publish its ``enrichment`` (on the worker's thread)."""
        job, c, state = outcome.job, outcome.caption, outcome.state
        tokens = None if c is None else len(c.token_ids)
        text, detail = (c.text, None) if state == "done" else (None, self._detail(outcome))
        if detail is not None:
            log.warning("%s: enrichment of caption seq %d: %s", job.source, job.caption_seq, detail)
        with self._lock:
            counts = self._counts.setdefault(job.source, {"done": 0, "failed": 0, "timeout": 0, "cpu_s": 0.0})
            counts[state] += 1
            counts["cpu_s"] += outcome.cpu_s
        self._emit(EnrichmentEvent(
            job.source, job.caption_seq, job.t, state, text, detail, self._model, self.vlm.weights, self.vlm.note,
            change=job.change, latency_ms=outcome.latency_ms, cpu_s=outcome.cpu_s, lag_s=outcome.wall_lag_s, tokens=tokens,
        ))

    def _detail(self, outcome: VLMResult) -> str:
        if outcome.caption is None:
            return f"the VLM failed: {outcome.error}"
        return (f"the VLM passed timeout_s ({self.config.timeout_s:g} s): stopped after "
                f"{len(outcome.caption.token_ids)} of {self.config.max_new_tokens} tokens")

    def decoder_stats(self, source: str) -> dict | None:
        """The ``decoder`` figures of ``source``'s ``stats`` event (``None`` before its first caption)."""
        figures = self.admission.figures(source)
        if figures is None:
            return None
        with self._lock:
            counts = self._counts.get(source, {"done": 0, "failed": 0, "timeout": 0, "cpu_s": 0.0})
        return {
            "type": "vlm", **{k: figures[k] for k in ("budget_per_minute", "spent_last_minute", "admitted", "over_budget", "coalesced")},
            **{k: counts[k] for k in _STATES}, "pending": figures["pending"], "cpu_s": round(counts["cpu_s"], 4),
        }

    def stats(self, source: str) -> dict:
        return {"decoder": self.decoder_stats(source)}

    def summary(self) -> dict:
        """Counts over every source, with what the model is."""
        figures = [self.admission.figures(s) for s in self.admission.sources()]
        with self._lock:
            counts = list(self._counts.values())
        out = {"coalesced": sum(f["coalesced"] for f in figures)}
        out.update({k: sum(c[k] for c in counts) for k in _STATES})
        out["dropped"] = sum(f["dropped"] for f in figures)
        out["admitted"] = sum(f["admitted"] for f in figures)
        out["over_budget"] = sum(f["over_budget"] for f in figures)
        out["cpu_s"] = round(sum(c["cpu_s"] for c in counts), 4)
        out["pending"] = self.worker.pending
        return {**self.vlm.describe(), **out}

    def finish(self, wait_s: float | None = None) -> int:
        """Stop taking captions, wait up to ``wait_s`` (default ``end_wait_s``) for those pending
        and the one in progress, skip the rest (state ``skipped``, counted in ``dropped``) and
        return how many were dropped. A generation still running then ends on its own (its text
        is not published: the run is over)."""
        wait_s = self.config.end_wait_s if wait_s is None else wait_s
        left = self.worker.close(wait_s)
        self.admission.count_dropped(left)
        for job in left:
            self._skip(job, f"{ENDED} (waited {wait_s:g} s, end_wait_s)")
        return len(left)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        dropped = self.finish()
        s = self.summary()
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
    return EnrichmentObserver(load_decoder_vlm(config), publish, config).start()
