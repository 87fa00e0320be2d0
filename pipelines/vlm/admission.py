"""The VLM worker's two admission policies: "every clip" (the baseline) and "on caption" (the ``vlm`` decoder).

Exports :class:`ClipJob`, :class:`EveryClip`, :class:`CaptionOffer`, :class:`CaptionJob` and
:class:`OnCaption`.

A policy decides what waits for the model (:class:`~pipelines.vlm.worker.Admission`); the
:class:`~pipelines.vlm.worker.VLMWorker` calls it under its lock and runs the model.

* :class:`EveryClip`: a FIFO of at most ``max_queue`` clips (default 4) under a named
  :class:`~streamer.worker.OverflowPolicy`: ``drop_oldest`` (the default) keeps the newest clips,
  so the baseline follows the live edge and its lag stays bounded; ``drop_newest`` keeps a
  contiguous early run; ``wait`` makes the producer wait for room (offline use only).
* :class:`OnCaption`: per source, the decode budget (:class:`~pipelines.core.decode_budget.DecodeBudget`,
  media time) admits a decision or not; an admitted one takes the source's one pending slot,
  superseding a job still waiting there (the newest wins). At most ``max_pending`` sources wait
  at once; past that the oldest waiting job is turned away. A job shows the caption's newest
  frame, after the previous caption's frame of the source with the "what changed" prompt, so
  memory is bounded by ``max_pending`` + the number of sources.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pipelines.core.decode_budget import DecodeBudget
from pipelines.decoder_config import VLMDecoderConfig
from pipelines.vlm.worker import Verdict
from streamer.worker import BoundedQueue, OverflowPolicy

__all__ = ["ClipJob", "EveryClip", "CaptionOffer", "CaptionJob", "OnCaption"]


@dataclass(frozen=True)
class ClipJob:
    """One clip: its newest ``images`` (RGB uint8), its ``prompt`` (None: the model's own) and
    when it was handed over (``time.monotonic()``)."""

    source: str
    t_start: float
    t_end: float
    images: tuple[np.ndarray, ...]
    submitted: float
    prompt: str | None = None


class EveryClip:
    """Admission "every clip": every :class:`ClipJob` offered waits, in order, in a queue of
    ``max_queue`` (at least 1) under ``policy``. ``dropped`` counts the clips refused or
    displaced (nothing is turned away by name)."""

    def __init__(self, max_queue: int = 4, policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST):
        self._queue: BoundedQueue[ClipJob] = BoundedQueue(max_queue, policy)

    @property
    def policy(self) -> OverflowPolicy:
        return self._queue.policy

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    def admit(self, job: ClipJob) -> Verdict:
        if self.policy is OverflowPolicy.WAIT:
            queued = self._queue.put_wait(job, 0)
            return Verdict(queued, wait=not queued)
        return Verdict(self._queue.put(job))

    def take(self) -> ClipJob | None:
        return self._queue.get(timeout=0)

    def clear(self) -> list[ClipJob]:
        jobs = []
        while (job := self._queue.get(timeout=0)) is not None:
            jobs.append(job)
        return jobs

    def __len__(self) -> int:
        return len(self._queue)


@dataclass(frozen=True)
class CaptionOffer:
    """A published caption (its ``seq``, media time ``t`` and ``drift``, None at a start) and the
    newest frame of its clip (None: the caption has none), when it was handed over."""

    source: str
    caption_seq: int
    t: float
    drift: float | None
    frame: np.ndarray | None
    submitted: float
    change = False  # an offer turned away was never a "what changed" request


@dataclass(frozen=True)
class CaptionJob:
    """One admitted caption: ``images`` (the previous caption's frame first when ``change``)
    and the ``prompt`` to ask."""

    source: str
    caption_seq: int
    t: float
    images: tuple[np.ndarray, ...]
    prompt: str
    change: bool
    submitted: float


class _Slot:
    """One source's admission state and counts."""

    def __init__(self, config: VLMDecoderConfig):
        self.budget = DecodeBudget(config.max_per_minute, config.burst)
        self.previous: np.ndarray | None = None  # the newest frame of the source's previous caption
        self.coalesced = self.dropped = 0


class OnCaption:
    """Admission "on caption", with the ``vlm`` decoder's ``config`` (budget, prompts, ``max_pending``).

    :meth:`admit` takes a :class:`CaptionOffer` and turns away, each with a one-line why: the
    offer (no frame, or over budget) or the job it supersedes or displaces (``max_pending``)."""

    def __init__(self, config: VLMDecoderConfig):
        self.config = config
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._pending: OrderedDict[str, CaptionJob] = OrderedDict()  # source → its newest waiting job

    def admit(self, offer: CaptionOffer) -> Verdict:
        with self._lock:
            slot = self._slots.setdefault(offer.source, _Slot(self.config))
            if offer.frame is None:
                return Verdict(False, ((offer, "the caption has no frames"),))
            previous, slot.previous = slot.previous, offer.frame
            decision = slot.budget.admit(offer.t, 0.0 if offer.drift is None else float(offer.drift))
            if not decision.admitted:
                return Verdict(False, ((offer, decision.why),))
            change = previous is not None and bool(self.config.change_prompt)
            job = CaptionJob(offer.source, offer.caption_seq, offer.t, (previous, offer.frame) if change else (offer.frame,),
                             self.config.change_prompt if change else self.config.prompt, change, offer.submitted)
            turned_away = []
            old = self._pending.pop(offer.source, None)
            if old is not None:
                slot.coalesced += 1
                turned_away.append((old, f"superseded by caption seq {offer.caption_seq} before the VLM was free"))
            elif len(self._pending) >= self.config.max_pending:
                _, oldest = self._pending.popitem(last=False)
                self._slots[oldest.source].dropped += 1
                turned_away.append((oldest, f"{self.config.max_pending} sources were waiting for the VLM (max_pending)"))
            self._pending[offer.source] = job
            return Verdict(True, tuple(turned_away))

    def take(self) -> CaptionJob | None:
        """The job of the source that has waited longest."""
        with self._lock:
            return self._pending.popitem(last=False)[1] if self._pending else None

    def clear(self) -> list[CaptionJob]:
        with self._lock:
            jobs = list(self._pending.values())
            self._pending.clear()
            return jobs

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def count_dropped(self, jobs: list[CaptionJob]) -> None:
        """Count ``jobs`` (that will get no text, for example at the end of a run) as dropped."""
        with self._lock:
            for job in jobs:
                self._slots[job.source].dropped += 1

    def figures(self, source: str) -> dict | None:
        """``source``'s admission figures (None before its first offer)."""
        with self._lock:
            slot = self._slots.get(source)
            if slot is None:
                return None
            return {
                "budget_per_minute": self.config.max_per_minute,
                "spent_last_minute": slot.budget.spent_last_minute(),
                "admitted": slot.budget.admitted,
                "over_budget": slot.budget.refused,
                "coalesced": slot.coalesced,
                "pending": int(source in self._pending),
                "dropped": slot.dropped,
            }

    def sources(self) -> list[str]:
        with self._lock:
            return list(self._slots)
