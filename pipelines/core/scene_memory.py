"""A second, longer memory of the scene as a set: is the newest second away from everything the
scene has shown? It sees a sustained new scene right after a busy one.

Exports :class:`SceneMemory` and :class:`MemoryContrast`.

The segment statistic (:mod:`pipelines.core.segment_contrast`) divides by the contrast the scene has
shown, so after a busy scene (a fast-cut montage, a dialogue cut shot/reverse-shot) its scale
is high and the next scene has to clear it: it misses changes out of busy scenes. What tells
them apart is that a busy scene's cuts come back to what the scene already showed, while after a
change every new frame sits away from all of it. :class:`SceneMemory` keeps the scene's frames
since the last decision, up to ``memory_s`` seconds (30 s by default, at most ``max_frames``),
and measures

    novelty = median over the newest second's frames r of  min over remembered frames m of ‖r − m‖²
              ─────────────────────────────────────────────────────────────────────────────────────
              median over remembered frames m of  min over remembered frames m' ≥ 1 s apart of ‖m − m'‖²  +  floor

The remembered frames are those older than the newest second by one more second (the gap), so a
new scene stays "away" for that second too and is not compared with its own first frames. The
denominator is how far the scene's own moments sit from each other: a busy scene's is large, a
static view's is near 0 (``floor`` = 0.1 keeps sensor noise from looking large by division). The
memory must span ``learn_s`` (4 s) before novelty is measured (0 until then): a scene that has
not shown its own variety yet (the first reverse shot of a dialogue) is left to the segment
statistic. Frames are unit vectors; ‖r − m‖² = 2 − 2 r·m. A sample costs ``O(n·F)`` for the
``n`` new frames against the remembered ones (their dot products are kept in a rolling Gram
matrix) plus ``O(M²)`` for the scale, with ``M ≤ max_frames``.

A decision (:meth:`rebase`) starts a new scene and forgets the frames before it. With
``keep_seen`` they stay remembered as seen (only the scale and the learning start afresh), so a
cut back to a look shown before the decision is not novel: a dialogue whose four shots each
last 6 s then fires at the first cut to each shot only, not at every cut. The default forgets:
a return to a look seen before is often the change a user wants (a person leaving the table
again), and ``keep_seen`` leaves it to the segment statistic, which misses changes right after a
busy stretch. ``benchmarks/bench_drift_arrangements.py`` measures both (``memory`` and
``memory_keep``).

:class:`MemoryContrast` is the ``memory`` statistic of :mod:`pipelines.core.drift`: the larger of the
segment statistic and ``novelty × threshold / memory_threshold``, so either fires at the one
enter threshold.
"""

from __future__ import annotations

import numpy as np

from pipelines.core.segment_contrast import SegmentContrast

__all__ = ["SceneMemory", "MemoryContrast"]

RECENT_S = 1.0  # the newest frames compared with the memory
GAP_S = 1.0  # frames this much older than the newest second are not yet remembered
APART_S = 1.0  # a remembered frame's neighbour for the scale is at least this far in time
LEARN_S = 4.0  # the memory must span this much before novelty is measured
FLOOR = 0.1


class SceneMemory:
    """The novelty above; :meth:`update` takes the frames new since the last sample."""

    def __init__(self, memory_s: float = 30.0, max_frames: int = 512, keep_seen: bool = False):
        self.memory_s = memory_s
        self.max_frames = max_frames
        self.keep_seen = keep_seen
        self._times = np.zeros(0)  # (n,) media times of the kept frames, oldest first
        self._frames: np.ndarray | None = None  # (n, F) unit vectors
        self._gram = np.zeros((0, 0))  # (n, n) their dot products
        self._scene_start = -np.inf  # the current scene's frames are those after this media time
        self.novelty = 0.0

    def update(self, t: float, frames: np.ndarray) -> float:
        """Add ``frames`` ``(k, F)`` seen up to media time ``t``; return this sample's novelty."""
        new = np.asarray(frames, dtype=np.float64).reshape(len(frames), -1)  # (k, F)
        new = new / np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        self._append(t, new)
        self.novelty = self._novelty(t)
        return self.novelty

    def _append(self, t: float, new: np.ndarray) -> None:
        old = self._frames if self._frames is not None else np.zeros((0, new.shape[1]))
        cross = new @ old.T  # (k, n)
        self._gram = np.block([[self._gram, cross.T], [cross, new @ new.T]])
        self._frames = np.vstack([old, new])
        self._times = np.concatenate([self._times, np.full(len(new), t)])
        horizon = t - RECENT_S - GAP_S - self.memory_s
        drop = max(int(np.searchsorted(self._times, horizon, side="left")), len(self._times) - self.max_frames)
        if drop > 0:
            self._times, self._frames, self._gram = self._times[drop:], self._frames[drop:], self._gram[drop:, drop:]

    def _novelty(self, t: float) -> float:
        times = self._times
        recent = times > t - RECENT_S
        memory = np.flatnonzero(times <= t - RECENT_S - GAP_S)
        scene = memory[times[memory] > self._scene_start]
        if not recent.any() or len(scene) < 2 or times[scene[-1]] - times[scene[0]] < LEARN_S:
            return 0.0
        d = np.maximum(2.0 - 2.0 * self._gram, 0.0)  # (n, n) squared distances of unit vectors
        inner = d[np.ix_(scene, scene)]
        tm = times[scene]
        inner = np.where(np.abs(tm[:, None] - tm[None]) >= APART_S, inner, np.inf)
        spacing = inner.min(axis=1)
        spacing = spacing[np.isfinite(spacing)]
        if not len(spacing):
            return 0.0
        away = d[np.ix_(np.flatnonzero(recent), memory)].min(axis=1)
        return float(np.median(away)) / (float(np.median(spacing)) + FLOOR)

    def rebase(self) -> None:
        """A decision fired: the newest second (the frames that showed the change) starts the
        new scene, whose scale and learning start afresh. The frames before it are forgotten,
        or with ``keep_seen`` still count as seen (a cut back to them is not novel)."""
        if not len(self._times):
            return
        self._scene_start = float(self._times[-1]) - RECENT_S
        if not self.keep_seen:
            keep = self._times > self._scene_start
            self._times, self._frames, self._gram = self._times[keep], self._frames[keep], self._gram[np.ix_(keep, keep)]


class MemoryContrast:
    """The segment statistic and the scene's memory side by side, with the segment's interface
    (``update``, ``step``, ``rebase``): drift is the larger of the segment's contrast and
    ``novelty × threshold / memory_threshold``."""

    def __init__(self, segment: SegmentContrast, memory: SceneMemory, weight: float):
        self.segment = segment
        self.memory = memory
        self.weight = weight

    @property
    def step(self) -> float:
        return self.segment.step

    def update(self, t: float, frames: np.ndarray) -> float:
        return max(self.segment.update(t, frames), self.weight * self.memory.update(t, frames))

    def rebase(self) -> None:
        self.segment.rebase()
        self.memory.rebase()
