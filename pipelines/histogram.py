"""A fixed-bucket histogram that costs one bisect per observation, for metrics read elsewhere.

Exports :data:`STEP_BUCKETS_S` and :class:`Histogram`.

Prometheus histograms count observations at or below each upper bound (``le``); this one keeps
a count per bucket (the last one open-ended) and the running sum, in plain Python objects that a
scrape on another thread may copy at any time (each copy is one operation under the GIL, so a
scrape sees whole observations, though the sum may be one observation behind the counts).
Memory is fixed: one int per bucket, however long a source runs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["STEP_BUCKETS_S", "Histogram"]

#: Upper bounds (seconds) of the per-clip step latency buckets: from a clip that costs only its
#: drift check (a few ms) to a CPU falling seconds behind.
STEP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Counts of observations per bucket of ``bounds`` (increasing upper bounds), plus one for
    everything above the last bound, and the ``sum`` of all observations."""

    def __init__(self, bounds: Sequence[float] = STEP_BUCKETS_S) -> None:
        if not bounds or any(b >= c for b, c in zip(bounds, bounds[1:])):
            raise ValueError(f"histogram bounds must be increasing and not empty, got {tuple(bounds)!r}")
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value: Prometheus' "le"
        self.sum += value

    def cumulative(self) -> list[int]:
        """Observations at or below each bound, then the total (Prometheus' ``+Inf`` bucket)."""
        counts, out, total = list(self.counts), [], 0  # one copy: a consistent set of counts
        for count in counts:
            total += count
            out.append(total)
        return out
