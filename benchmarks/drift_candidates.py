"""Candidate change statistics, compared with the default in ``bench_drift_arrangements.py``.

Exports :data:`CANDIDATES` and :data:`GRIDS`.

Each candidate has the interface of :class:`pipelines.core.segment_contrast.SegmentContrast`, so
:class:`pipelines.core.drift.DriftDetector` runs it with the same hysteresis and cooldown:
``update(t, frames) -> drift`` (0 while it learns), ``step`` (how far the recent window moved
since the last sample, on the statistic's scale) and ``rebase()`` (a decision fired: the recent
window starts a new segment). Frames are unit vectors; every memory is bounded.

* ``memory``: the default, :class:`pipelines.core.scene_memory.MemoryContrast` (the segment
  statistic, and the novelty against a 30 s memory of the scene as a set; the novelty's own
  threshold stays ``memory_threshold`` = 3.0 as the enter threshold varies).
* ``memory_keep``: ``memory`` whose decisions keep the frames before them as seen
  (``drift.memory_keep_seen: true``): a cut back to an earlier look is not novel.
* ``segment``: the previous default, :class:`pipelines.core.segment_contrast.SegmentContrast`.
* ``hotelling``: ``‖μ_R − μ_S‖² / (tr Σ_S / |S| + tr Σ_R / |R| + floor)``, the two-sample
  statistic of the notes (frames treated as independent).
* ``pooled``: the segment's contrast over a pooled within-window spread (:class:`Variant`).
* ``nearest``: that memory alone (:class:`NearestSet`, the bench's slower form of
  :class:`pipelines.core.scene_memory.SceneMemory`), at its own threshold.
* ``mmd``: the biased MMD² between R and S with a Gaussian kernel whose bandwidth is the median
  squared distance between the segment's frames (at least ``floor``).
* ``bocpd``: Bayesian online change-point detection (Adams & MacKay 2007) on the mean of each
  sample's new frames after a fixed random projection to 8 dimensions, an isotropic
  Normal-Gamma model (one variance for all dimensions), hazard 1/100, run lengths truncated at 120 samples; the drift is
  ``P(run length < recent samples)`` scaled by 4 so that a threshold near 2 means 0.5.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
from scipy.special import gammaln

from pipelines.core.drift import DriftDetector, Statistic
from pipelines.core.segment_contrast import SegmentContrast

__all__ = ["CANDIDATES", "GRIDS"]


class _Windows:
    """The recent window R and the segment S as frame deques (no running sums: the bench only)."""

    def __init__(self, recent_s: float, segment_s: float, max_frames: int = 512):
        self.recent_s, self.segment_s, self.max_frames = recent_s, segment_s, max_frames
        self.recent: deque[tuple[float, np.ndarray]] = deque()
        self.segment: deque[tuple[float, np.ndarray]] = deque()
        self.born = None
        self.step = 0.0
        self._previous = None

    def push(self, t: float, frames: np.ndarray) -> bool:
        """Add frames; True once S has frames and is at least ``recent_s`` old."""
        if self.born is None:
            self.born = t
        for v in frames:
            self.recent.append((t, v / np.linalg.norm(v)))
        while len(self.recent) > 1 and self.recent[0][0] <= t - self.recent_s:
            self.segment.append(self.recent.popleft())
        while len(self.segment) > self.max_frames or (len(self.segment) > 1 and self.segment[0][0] < t - self.recent_s - self.segment_s):
            self.segment.popleft()
        return bool(self.segment) and t - self.born >= 2 * self.recent_s

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([v for _, v in self.recent]), np.array([v for _, v in self.segment])

    def moved(self, mean_recent: np.ndarray, scale: float) -> None:
        if self._previous is not None:
            d = mean_recent - self._previous
            self.step = float(d @ d) / scale
        self._previous = mean_recent

    def rebase(self) -> None:
        self.segment, self.recent = self.recent, deque()
        self.born, self._previous, self.step = None, None, 0.0
        if self.segment:
            self.born = self.segment[0][0]


def _trace_cov(x: np.ndarray) -> float:
    return float(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()) if len(x) > 1 else 0.0


class _OnWindows:
    """A statistic of the recent window R against the segment S: subclasses give
    ``measure(r, s) -> (drift, scale)`` (scale ``None``: not measured yet, drift 0); ``step`` is
    R's move on that scale; ``now`` is the sample's media time."""

    def __init__(self, recent_s: float, segment_s: float):
        self.w = _Windows(recent_s, segment_s)

    @property
    def step(self):
        return self.w.step

    def update(self, t, frames):
        if not self.w.push(t, np.asarray(frames, dtype=np.float64)):
            return 0.0
        self.now = t
        r, s = self.w.arrays()
        drift, scale = self.measure(r, s)
        if scale is not None:
            self.w.moved(r.mean(axis=0), scale)
        return drift

    def rebase(self):
        self.w.rebase()


class Hotelling(_OnWindows):
    def __init__(self, recent_s=1.5, segment_s=6.0, floor=0.02, per_frame=True):
        super().__init__(recent_s, segment_s)
        self.floor, self.per_frame = floor, per_frame

    def measure(self, r, s):
        gap = r.mean(axis=0) - s.mean(axis=0)
        if self.per_frame:
            scale = _trace_cov(s) / len(s) + _trace_cov(r) / len(r) + self.floor
        else:
            scale = _trace_cov(s) + _trace_cov(r) + self.floor
        return float(gap @ gap) / scale, scale


class Mmd(_OnWindows):
    def __init__(self, recent_s=1.5, segment_s=6.0, floor=0.05):
        super().__init__(recent_s, segment_s)
        self.floor = floor

    def measure(self, r, s):
        d_ss = np.maximum(2 - 2 * s @ s.T, 0)
        iu = np.triu_indices(len(s), 1)
        bw = max(float(np.median(d_ss[iu])) if len(iu[0]) else 0.0, self.floor)
        k = lambda d: np.exp(-d / bw)  # noqa: E731
        mmd = k(np.maximum(2 - 2 * r @ r.T, 0)).mean() + k(d_ss).mean() - 2 * k(np.maximum(2 - 2 * r @ s.T, 0)).mean()
        return float(mmd), bw


class Bocpd:
    def __init__(self, dims=8, hazard=0.01, max_run=120, recent=3, seed=0, feature_dim=1280):
        self.p = np.random.default_rng(seed).normal(size=(feature_dim, dims)) / np.sqrt(dims)
        self.h, self.max_run, self.recent = hazard, max_run, recent
        self.step = 0.0
        self._reset()

    def _reset(self):
        self.log_r = np.zeros(1)  # log P(run length = i)
        self.mu = np.zeros((1, self.p.shape[1])); self.kappa = np.full(1, 0.1)
        self.alpha = np.full(1, 1.0); self.beta = np.full(1, 0.01)
        self.n = 0

    def update(self, t, frames):
        x = np.asarray(frames, dtype=np.float64).mean(axis=0) @ self.p  # (dims,)
        if self.n == 0:
            self.mu[0] = x
        self.n += 1
        scale2 = self.beta * (self.kappa + 1) / (self.alpha * self.kappa)  # (runs,)
        nu = 2 * self.alpha
        z = ((x[None] - self.mu) ** 2) / scale2[:, None]
        logp = (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(np.pi * nu * scale2))[:, None] - (nu[:, None] + 1) / 2 * np.log1p(z / nu[:, None])
        logp = logp.sum(axis=1)
        grow = self.log_r + logp + np.log1p(-self.h)
        cp = np.logaddexp.reduce(self.log_r + logp + np.log(self.h))
        log_r = np.concatenate([[cp], grow])
        log_r -= np.logaddexp.reduce(log_r)
        mu = np.vstack([x, (self.kappa[:, None] * self.mu + x) / (self.kappa[:, None] + 1)])
        beta = np.concatenate([[0.01], self.beta + self.kappa * ((x[None] - self.mu) ** 2).sum(axis=1) / (2 * (self.kappa + 1))])
        kappa, alpha = np.concatenate([[0.1], self.kappa + 1]), np.concatenate([[1.0], self.alpha + len(x) / 2])
        keep = slice(0, self.max_run)
        self.log_r, self.mu, self.kappa, self.alpha, self.beta = log_r[keep], mu[keep], kappa[keep], alpha[keep], beta[keep]
        self.log_r -= np.logaddexp.reduce(self.log_r)
        if self.n < 2 * self.recent:
            return 0.0
        p_recent = float(np.exp(self.log_r[: self.recent]).sum())
        return 4 * p_recent

    def rebase(self):
        pass  # the run-length posterior already restarted


class NearestSet(_OnWindows):
    """The segment remembered as a set, over a longer memory: the ``q_recent`` quantile over
    the recent frames of their distance ``‖r − s‖²`` to the nearest remembered frame, divided
    by how far remembered frames sit from their nearest frame of another moment (``apart_s``
    or more away; its ``quantile``) plus ``floor``. The memory holds the segment's frames older
    than the recent window by ``gap_s`` (so a sustained new view stays away from it for that
    long), at most ``segment_s`` seconds of them."""

    def __init__(self, recent_s=1.0, segment_s=30.0, floor=0.1, apart_s=1.0, quantile=0.75, gap_s=1.0, q_recent=0.5, learn_s=0.0):
        super().__init__(recent_s, segment_s)
        self.floor, self.apart_s, self.q = floor, apart_s, quantile
        self.gap_s, self.q_recent, self.learn_s = gap_s, q_recent, learn_s

    def measure(self, r, s):
        ts = np.array([x for x, _ in self.w.segment])
        old = ts <= self.now - self.w.recent_s - self.gap_s
        if not old.any() or ts[old][-1] - ts[old][0] < self.learn_s:
            return 0.0, None
        s, ts = s[old], ts[old]
        d_ss = np.maximum(2 - 2 * s @ s.T, 0)
        d_ss[np.abs(ts[:, None] - ts[None]) < self.apart_s] = np.inf
        nn = d_ss.min(axis=1)
        nn = nn[np.isfinite(nn)]
        if not len(nn):
            return 0.0, None
        scale = float(np.quantile(nn, self.q)) + self.floor
        return float(np.quantile(np.maximum(2 - 2 * r @ s.T, 0).min(axis=1), self.q_recent)) / scale, scale


class Variant:
    """The segment statistic's contrast ``‖μ_R − μ_S‖²`` over the pooled within-window spread:
    the mean plus standard deviation of the recent window's own spread ``tr Σ_R`` over the
    segment's samples (``scale="pooled"``), or of the earlier contrasts (``"history"``, the
    default statistic), plus ``floor``."""

    def __init__(self, recent_s=1.5, segment_s=6.0, floor=0.1, scale="history"):
        self.w, self.floor, self.kind = _Windows(recent_s, segment_s), floor, scale
        self.hist: deque = deque()

    @property
    def step(self):
        return self.w.step

    def _typical(self, col):
        v = np.array([h[col] for h in self.hist])
        return float(v.mean() + v.std()) if len(v) else 0.0

    def update(self, t, frames):
        ready = self.w.push(t, np.asarray(frames, dtype=np.float64))
        if not self.w.segment:
            return 0.0
        r, s = self.w.arrays()
        gap = r.mean(axis=0) - s.mean(axis=0)
        c = float(gap @ gap)
        while self.hist and self.hist[0][0] < t - self.w.segment_s:
            self.hist.popleft()
        scale = self._typical(1 if self.kind == "history" else 2) + self.floor
        self.w.moved(r.mean(axis=0), scale)
        self.hist.append((t, c, _trace_cov(r)))
        return c / scale if ready else 0.0

    def rebase(self):
        self.w.rebase()
        self.hist.clear()


def _memory(drift):
    return DriftDetector(dataclasses.replace(drift, statistic=Statistic.MEMORY))._new_contrast()


def _memory_keep(drift):
    return _memory(dataclasses.replace(drift, memory_keep_seen=True))


CANDIDATES = {  # name → a fresh statistic for a DriftConfig (only ``memory`` reads it), with the parameters measured
    "memory": _memory,
    "memory_keep": _memory_keep,
    "segment": lambda drift: SegmentContrast(1.5, 0.1, 6.0, 512),
    "hotelling": lambda drift: Hotelling(per_frame=True),
    "pooled": lambda drift: Variant(scale="pooled"),
    "nearest": lambda drift: NearestSet(recent_s=1.0, segment_s=30.0, gap_s=1.0, q_recent=0.5, quantile=0.5, learn_s=4.0),
    "mmd": lambda drift: Mmd(),
    "bocpd": lambda drift: Bocpd(),
}
GRIDS = {  # the enter thresholds tried on the tuning half
    "memory": (1.75, 2.0, 2.25),
    "memory_keep": (1.75, 2.0, 2.25),
    "segment": (1.5, 1.75, 2.0),
    "hotelling": (8.0, 16.0, 32.0),
    "pooled": (2.0, 2.5, 3.0),
    "nearest": (2.5, 3.0, 4.0),
    "mmd": (0.7, 0.9, 1.1),
    "bocpd": (2.0, 3.0, 3.6),
}

