"""Reference decoding strategies for the bench: uniform decoding and VL-JEPA's offline selective decoding.

Exports :data:`MAX_WARD_CLIPS`, :class:`Pick`, :func:`uniform_picks`, :func:`smooth_sequence`,
:func:`ward_segments` and :func:`ward_picks`.

Both work on the clip embedding stream the selective path computed (one ``(D,)`` unit vector per
clip, with its media time ``t_end``); they only choose which clips a decoder reads.

* **Uniform** decodes at a fixed rate: the first clip, then the first clip at or after every
  ``1 / rate_hz`` seconds. It is what a captioner that ignores the content does.
* **Offline Ward** (VL-JEPA, arXiv 2512.10942, "adaptive selective decoding"): smooth the whole
  sequence with a centred moving average, segment it with temporally constrained agglomerative
  clustering under Ward's criterion (only neighbouring segments may merge; each merge is the
  one that adds the least within-segment variance), and decode once per segment at its
  midpoint. It sees the future, so it is the bench's upper bound, not a streaming method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_WARD_CLIPS", "Pick", "uniform_picks", "smooth_sequence", "ward_segments", "ward_picks"]

# Ward merging is O(N^2) in numpy for N clips; this bounds the clips of one bench video (a day
# at a 0.5 s stride would be 172 800).
MAX_WARD_CLIPS = 50_000


@dataclass(frozen=True)
class Pick:
    """Decode clip ``index``; ``t`` is when the strategy decides (media s) and ``boundary`` says
    whether the strategy claims a scene boundary there (the first pick never does)."""

    index: int
    t: float
    boundary: bool


def uniform_picks(times: np.ndarray, rate_hz: float) -> list[Pick]:
    """Clips a uniform decoder at ``rate_hz`` reads, given the clips' media times (ascending)."""
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    period = 1.0 / rate_hz
    picks: list[Pick] = []
    next_t = -np.inf
    for i, t in enumerate(np.asarray(times, dtype=np.float64)):
        if t >= next_t - 1e-9:
            picks.append(Pick(i, float(t), boundary=bool(picks)))
            next_t = (float(t) if not np.isfinite(next_t) else next_t) + period
            while next_t <= t + 1e-9:
                next_t += period
    return picks


def smooth_sequence(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of ``x`` (N, D) over ``window`` samples (edges use what exists)."""
    n = len(x)
    if window <= 1 or n == 0:
        return x.copy()
    half = window // 2
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])  # (N+1, D)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + (window - half), 0, n)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None]).astype(np.float32)  # (N, D)


def ward_segments(x: np.ndarray, n_segments: int) -> list[tuple[int, int]]:
    """Split ``x`` (N, D) into ``n_segments`` contiguous ``[start, end)`` runs by temporally
    constrained Ward agglomeration: start from single samples, repeatedly merge the adjacent
    pair whose merge raises the total within-segment sum of squares the least,
    ``n_a n_b / (n_a + n_b) * ||mean_a - mean_b||^2``."""
    n = len(x)
    if n == 0:
        return []
    if n > MAX_WARD_CLIPS:
        raise ValueError(f"{n} clips is more than the offline reference handles ({MAX_WARD_CLIPS})")
    k = int(np.clip(n_segments, 1, n))
    starts = list(range(n))
    sizes = [1.0] * n
    means = [row.astype(np.float64) for row in x]

    def cost(a: int) -> float:  # merging segment a with a + 1
        na, nb = sizes[a], sizes[a + 1]
        d = means[a] - means[a + 1]
        return na * nb / (na + nb) * float(d @ d)

    costs = [cost(a) for a in range(n - 1)]
    while len(starts) > k:
        a = int(np.argmin(costs))
        na, nb = sizes[a], sizes[a + 1]
        means[a] = (na * means[a] + nb * means[a + 1]) / (na + nb)
        sizes[a] = na + nb
        del starts[a + 1], sizes[a + 1], means[a + 1], costs[a]
        if a < len(costs):
            costs[a] = cost(a)
        if a > 0:
            costs[a - 1] = cost(a - 1)
    ends = starts[1:] + [n]
    return list(zip(starts, ends))


def ward_picks(times: np.ndarray, embeddings: np.ndarray, n_segments: int, smooth_window: int = 5) -> tuple[list[Pick], list[tuple[int, int]]]:
    """Offline selective decoding: one pick per Ward segment at its midpoint clip.

    A pick's ``t`` is the start of its segment (where the strategy puts the boundary; the
    clustering knew it only after seeing the whole video). Returns the picks and the segments.
    """
    times = np.asarray(times, dtype=np.float64)
    segments = ward_segments(smooth_sequence(np.asarray(embeddings, dtype=np.float32), smooth_window), n_segments)
    picks = [Pick((s + e - 1) // 2, float(times[s]), boundary=i > 0) for i, (s, e) in enumerate(segments)]
    return picks, segments
