"""The per-source VLM budget: which decisions get the expensive decoder when there are too many.

Exports :data:`BUDGET_WINDOW_S`, :data:`MAX_HISTORY`, :class:`Verdict` and :class:`DecodeBudget`.

The rule is causal and runs in media time (the caption's ``t``), so it is deterministic for a
given stream whatever the CPU does, and "per minute" means per minute of video:

1. **Bucket.** A token bucket of ``burst`` tokens refills at ``per_minute / 60`` tokens per
   media second; it starts full. A decision needs one whole token: this is the hard bound
   (never more than ``burst + per_minute * minutes`` admitted).
2. **Rank.** A decision ranks if fewer than ``per_minute`` of the decisions of the last
   :data:`BUDGET_WINDOW_S` media seconds (admitted or not) had a larger drift. One that ranks
   takes a token; one that does not may take one only if another is left after it (the last
   token is kept for a decision that ranks). When changes come faster than the budget, the
   small ones (and heartbeats, whose drift is low) are turned away while the bucket keeps a
   token for the large ones; when they come slower, every one is admitted.

A refused decision keeps its retrieval caption (the first event); its frame still becomes the
"previous decode" that the next change is compared with. ``per_minute = 0`` admits everything
(the worker's coalescing then bounds the work). The history of decisions is bounded to
:data:`MAX_HISTORY`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["BUDGET_WINDOW_S", "MAX_HISTORY", "Verdict", "DecodeBudget"]

#: Media seconds of decisions the rank rule and ``spent_last_minute`` look back over.
BUDGET_WINDOW_S = 60.0
#: Decisions remembered for the rank rule (a cooldown of 0.5 s gives at most 120 a minute).
MAX_HISTORY = 1024


@dataclass(frozen=True)
class Verdict:
    """``admitted``: the decision goes to the VLM; otherwise ``why`` says which rule refused it."""

    admitted: bool
    why: str = ""


class DecodeBudget:
    """One source's budget. Call :meth:`admit` once per decision, in media-time order."""

    def __init__(self, per_minute: float, burst: int):
        if per_minute < 0 or burst < 1:
            raise ValueError(f"a budget needs per_minute >= 0 and burst >= 1, got {per_minute}, {burst}")
        self.per_minute = per_minute
        self.burst = burst
        self.tokens = float(burst)
        self.admitted = 0
        self.refused = 0
        self._last_t: float | None = None
        self._decisions: deque[tuple[float, float]] = deque(maxlen=MAX_HISTORY)  # (t, drift), every decision
        self._spent: deque[float] = deque(maxlen=MAX_HISTORY)  # t of the admitted ones

    def _forget(self, t: float) -> None:
        while self._decisions and self._decisions[0][0] <= t - BUDGET_WINDOW_S:
            self._decisions.popleft()
        while self._spent and self._spent[0] <= t - BUDGET_WINDOW_S:
            self._spent.popleft()

    def admit(self, t: float, drift: float) -> Verdict:
        """The verdict on a decision at media time ``t`` with ``drift``."""
        if self._last_t is not None:
            self.tokens = min(float(self.burst), self.tokens + max(0.0, t - self._last_t) * self.per_minute / 60.0)
        self._last_t = t
        self._forget(t)
        stronger = sum(1 for _, d in self._decisions if d > drift)
        self._decisions.append((t, drift))
        ranks = stronger < self.per_minute
        if self.per_minute == 0:
            verdict = Verdict(True)
        elif self.tokens >= (1.0 if ranks else 2.0):
            self.tokens -= 1.0
            verdict = Verdict(True)
        elif not ranks:
            verdict = Verdict(False, f"over budget ({self.per_minute:g}/min): {stronger} larger drifts in the last minute")
        else:
            verdict = Verdict(False, f"over budget ({self.per_minute:g}/min, burst {self.burst}): spent")
        if verdict.admitted:
            self.admitted += 1
            self._spent.append(t)
        else:
            self.refused += 1
        return verdict

    def spent_last_minute(self) -> int:
        """Decisions admitted in the last :data:`BUDGET_WINDOW_S` media seconds (up to the newest)."""
        if self._last_t is not None:
            self._forget(self._last_t)
        return len(self._spent)
