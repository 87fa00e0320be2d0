"""A scene-relative change statistic: how far the newest seconds moved from the scene so far,
in units of how much that scene moves by itself.

Exports :class:`SegmentContrast`.

It reads frame vectors (the X-encoder's visual features, one unit vector per analysed frame)
and keeps two sets of them:

* the **recent window** R: the frames of the last ``recent_s`` media seconds;
* the **segment** S: the older frames since the last decision, at most ``max_segment_s``
  seconds of them before the recent window (and at most ``max_frames``).

The contrast of a sample is ``‖μ_R − μ_S‖²``, the squared distance between the two means.
What makes it scene-relative is the scale it is divided by: what contrast the segment has
shown over the same span (its samples of the last ``max_segment_s`` since the decision), as
their mean plus their standard deviation, plus ``spread_floor``::

    drift = ‖μ_R − μ_S‖² / (mean + std of the segment's earlier contrasts + spread_floor)

The standard deviation matters for busy scenes, whose contrasts come and go with the cuts: a
threshold on the mean alone is crossed by their peaks.

A busy scene (fast cuts inside one place, people walking through, a moving hand-held camera)
has shown large contrasts all along, so one more cut does not stand out; a quiet view has
shown almost none, so something new in it does. ``spread_floor`` keeps a static view's
sensor noise and exposure drift (contrasts near zero) from looking large by division, and is
the smallest contrast that can ever fire: ``threshold × spread_floor``.

For its first ``recent_s`` seconds a segment only learns: the statistic is 0 while its
contrast history is younger than that, so the first frames of a stream (or of a new scene)
are not measured against a scale that has not been seen yet. A decision (:meth:`rebase`) starts a new segment from the recent window (the frames that
showed the change) and forgets the contrast history, so the new scene gets its own scale.
The memory is short on purpose (6 s by default, measured on real footage): a change that did
not fire is soon forgotten, where a long memory would take it into the scene's scale, become
"busy", and then miss the next change too.
All sums are running sums: a sample costs ``O(F)`` per frame that enters or leaves, and the
state is bounded by ``max_frames`` vectors.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["SegmentContrast"]


class _RunningSet:
    """Frames ``(t, vector)`` in time order with their running sum."""

    def __init__(self, dim: int):
        self.items: deque[tuple[float, np.ndarray]] = deque()
        self.total = np.zeros(dim, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.items)

    def push(self, t: float, v: np.ndarray) -> None:
        self.items.append((t, v))
        self.total += v

    def pop_oldest(self) -> tuple[float, np.ndarray]:
        t, v = self.items.popleft()
        self.total -= v
        return t, v

    def mean(self) -> np.ndarray:
        return self.total / len(self.items)


class SegmentContrast:
    """The statistic above; :meth:`update` takes the frames new since the last sample."""

    def __init__(self, recent_s: float, spread_floor: float, max_segment_s: float, max_frames: int):
        self.recent_s = recent_s
        self.spread_floor = spread_floor
        self.max_segment_s = max_segment_s
        self.max_frames = max_frames
        self._recent: _RunningSet | None = None
        self._segment: _RunningSet | None = None
        self._history: deque[tuple[float, float]] = deque()  # (t, contrast) of earlier samples
        self._history_sum = 0.0
        self._history_squares = 0.0
        self._previous_recent_mean: np.ndarray | None = None
        self.contrast = 0.0  # ‖μ_R − μ_S‖² of the last sample
        self.scale = spread_floor  # what it was divided by
        self.step = 0.0  # how far the recent window moved since the last sample, on the same scale

    def update(self, t: float, frames: np.ndarray) -> float:
        """Add ``frames`` ``(n, F)`` seen up to media time ``t``; return this sample's drift."""
        frames = np.asarray(frames, dtype=np.float64).reshape(len(frames), -1)  # (n, F)
        frames = frames / np.maximum(np.linalg.norm(frames, axis=1, keepdims=True), 1e-12)
        if self._recent is None:
            self._recent, self._segment = _RunningSet(frames.shape[1]), _RunningSet(frames.shape[1])
        recent, segment = self._recent, self._segment
        for v in frames:
            recent.push(t, v)
        while len(recent) > 1 and recent.items[0][0] <= t - self.recent_s:
            segment.push(*recent.pop_oldest())
        while len(segment) > self.max_frames or (len(segment) > 1 and segment.items[0][0] < t - self.recent_s - self.max_segment_s):
            segment.pop_oldest()
        if not len(segment):
            return 0.0
        mean_recent = recent.mean()
        gap = mean_recent - segment.mean()
        self.contrast = float(gap @ gap)
        while self._history and self._history[0][0] < t - self.max_segment_s:
            _, old = self._history.popleft()
            self._history_sum -= old
            self._history_squares -= old * old
        self.scale = self._typical_contrast() + self.spread_floor
        if self._previous_recent_mean is not None:
            moved = mean_recent - self._previous_recent_mean
            self.step = float(moved @ moved) / self.scale
        self._previous_recent_mean = mean_recent
        learning = not self._history or self._history[0][0] > t - self.recent_s
        self._history.append((t, self.contrast))
        self._history_sum += self.contrast
        self._history_squares += self.contrast * self.contrast
        return 0.0 if learning else self.contrast / self.scale

    def _typical_contrast(self) -> float:
        """Mean plus standard deviation of the remembered contrasts (0 with none)."""
        n = len(self._history)
        if not n:
            return 0.0
        mean = self._history_sum / n
        return mean + max(self._history_squares / n - mean * mean, 0.0) ** 0.5

    def rebase(self) -> None:
        """A decision fired: the recent window becomes the new segment, with no history."""
        if self._recent is None:
            return
        self._segment = self._recent
        self._recent = _RunningSet(self._segment.total.shape[0])
        self._history.clear()
        self._history_sum = self._history_squares = 0.0
        self._previous_recent_mean = None
        self.step = 0.0
