"""Where the newest scene of a clip begins: the frames a change caption describes.

Exports :data:`MIN_SEPARATION` and :func:`newest_segment`.

A change is decided some time after it happens: the detector waits until the new scene has
lasted (0.5 s after a hard cut with the default ``memory`` statistic, up to about 2 s for a slow
change). A caption that describes the clip's newest ``caption_window_s`` (1 s) then still holds
the shot before the cut when the decision came early, and names it. :func:`newest_segment`
finds the cut inside the clip so that the caption describes only what follows it.

The clip's frame features are split once, where the two sides' means are farthest apart after
weighting by ``k (T − k) / T`` (binary segmentation: the split that explains most of the clip's
spread). The split counts only when it is clear: the squared distance between the two means is
at least :data:`MIN_SEPARATION` times the frames' mean squared distance to their own side's mean.
A clip without one clear boundary (a gradual change, a busy scene, noise) gives 0, and the
caption keeps its whole window. Cost: ``O(T·F)`` for ``T`` frames of ``F`` features, once per
change decision.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_SEPARATION", "newest_segment"]

# Between-side over within-side squared distance. The best split of T frames of pure noise has
# a ratio of about 4/T (8 frames: 0.5), a hard cut between two steady shots one of 10 and more.
MIN_SEPARATION = 2.0


def newest_segment(features: np.ndarray) -> int:
    """The index of the first frame after the clip's one clear boundary, or 0 without one.

    ``features``: ``(T, F)``, one vector per frame of the clip, oldest first (not necessarily unit
    vectors: they are normalised here)."""
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # (T, F)
    count = len(x)
    if count < 2:
        return 0
    k = np.arange(1, count)  # (T-1,) frames on the old side of each split
    before = np.cumsum(x, axis=0)[:-1]  # (T-1, F) sums of the old sides
    left = before / k[:, None]
    right = (x.sum(axis=0) - before) / (count - k)[:, None]
    gain = k * (count - k) / count * ((left - right) ** 2).sum(axis=1)  # (T-1,)
    best = int(np.argmax(gain))
    split = best + 1
    within = (((x[:split] - left[best]) ** 2).sum() + ((x[split:] - right[best]) ** 2).sum()) / count
    between = float(((left[best] - right[best]) ** 2).sum())
    return split if between > MIN_SEPARATION * within else 0
