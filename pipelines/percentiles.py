"""Percentiles of latency samples, computed in one place for every report.

Exports :func:`percentile` and :func:`percentiles`.

Both use numpy's default estimator (linear interpolation between the closest ranks) on the
samples as float64, so the live ``stats`` event, the run summary, the baseline worker's summary
and the bench report agree on what "p95" means. An empty sample has no percentile: the caller
says what stands in for it (``None`` by default; the live ``stats`` event reports 0.0).
Values are rounded to ``ndigits`` decimals (3 by default, microseconds for figures in ms;
``None`` keeps the full float).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["percentile", "percentiles"]


def percentile(values: Sequence[float], q: float, *, ndigits: int | None = 3, empty: float | None = None) -> float | None:
    """The ``q``-th percentile (0–100) of ``values`` (any sequence of numbers, e.g. a list or a
    bounded deque), rounded to ``ndigits``; ``empty`` when there are no values."""
    if len(values) == 0:
        return empty
    value = float(np.percentile(np.asarray(values, dtype=np.float64), q))
    return value if ndigits is None else round(value, ndigits)


def percentiles(values: Sequence[float], qs: Iterable[float] = (50, 95, 99), *, ndigits: int | None = 3) -> dict[str, float | None]:
    """``{"p50": …, "p95": …, "p99": …}`` (one key per ``q`` in ``qs``); each ``None`` when
    ``values`` is empty."""
    return {f"p{q:g}": percentile(values, q, ndigits=ndigits) for q in qs}
