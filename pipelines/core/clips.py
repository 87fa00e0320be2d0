"""Clip assembly: sampled frames → overlapping clip windows, advanced by a stride.

Exports :class:`ClipConfig`, :class:`ClipWindow` and :class:`ClipAssembler`.

Clip ``k`` (k = 1, 2, …) ends at ``t_end = k * stride_s`` and holds the frames with
``t_end - window_s <= pts < t_end``. It closes when the first frame at or after ``t_end``
arrives, so a window never waits for more than one frame. Early clips hold fewer frames than a
full window; a clip with no frames (a gap in the stream) is skipped. The assembler keeps only
the frames the next window can still use.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from streamer.capture.frames import Frame

__all__ = ["ClipConfig", "ClipWindow", "ClipAssembler"]


@dataclass(frozen=True)
class ClipConfig:
    """``window_s``: media seconds pooled into one clip embedding (default 2 s, at most 60: its
    frames stay in memory).
    ``stride_s``: media seconds between consecutive clips (default 0.5 s).
    ``caption_window_s``: the newest media seconds of a clip that a caption is decoded from
    (default 1 s). The pooled window lags a cut by up to ``window_s``; by the time drift fires,
    the newest second already shows the new scene, so the caption describes it."""

    window_s: float = 2.0
    stride_s: float = 0.5
    caption_window_s: float = 1.0

    #: Longest ``window_s``.
    MAX_WINDOW_S = 60.0

    def __post_init__(self) -> None:
        if self.window_s > self.MAX_WINDOW_S:
            raise ValueError(f"window_s must be at most {self.MAX_WINDOW_S:g}, got {self.window_s}")
        if self.stride_s <= 0:
            raise ValueError(f"stride_s must be positive, got {self.stride_s}")
        if self.window_s < self.stride_s:
            raise ValueError(f"window_s ({self.window_s}) must be at least stride_s ({self.stride_s})")
        if not 0 < self.caption_window_s <= self.window_s:
            raise ValueError(f"caption_window_s must be within (0, window_s={self.window_s}], got {self.caption_window_s}")


@dataclass(frozen=True)
class ClipWindow:
    t_start: float
    t_end: float
    frames: tuple[Frame, ...]


class ClipAssembler:
    def __init__(self, config: ClipConfig):
        self.config = config
        self._frames: deque[Frame] = deque()
        self._next_k: int | None = None  # clip k ends at k * stride_s

    def _first_k_after(self, pts: float) -> int:
        return math.floor(pts / self.config.stride_s + 1e-9) + 1

    def push(self, frame: Frame) -> list[ClipWindow]:
        """Add ``frame``; return the clips it closes, oldest first."""
        cfg = self.config
        if self._next_k is None:
            self._next_k = self._first_k_after(frame.pts)
        closed = []
        while frame.pts >= self._next_k * cfg.stride_s - 1e-9:
            t_end = self._next_k * cfg.stride_s
            t_start = t_end - cfg.window_s
            members = tuple(f for f in self._frames if t_start - 1e-9 <= f.pts < t_end - 1e-9)
            if members:
                closed.append(ClipWindow(round(max(t_start, 0.0), 6), round(t_end, 6), members))
            self._next_k += 1
            if not self._frames or self._frames[-1].pts < self._next_k * cfg.stride_s - cfg.window_s:
                # Every window from here up to this frame is empty: jump over the gap.
                self._next_k = max(self._next_k, self._first_k_after(frame.pts))
        horizon = self._next_k * cfg.stride_s - cfg.window_s
        while self._frames and self._frames[0].pts < horizon - 1e-9:
            self._frames.popleft()
        self._frames.append(frame)
        return closed
