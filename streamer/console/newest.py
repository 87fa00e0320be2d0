"""Each source's newest sampled frame, as a JPEG only when somebody asks.

Exports :class:`NewestFrames`.

The runner hands every sampled frame to :meth:`NewestFrames.offer`, which keeps a reference (one
dict store: nothing is copied or encoded). An HTTP request for a source's frame encodes it, at most
once per ``interval_s`` per source however many pages ask, so the page's tiles cost nothing while
no page is open and a bounded amount while some are.
"""

from __future__ import annotations

import threading
import time

from streamer.capture.frames import Frame
from streamer.console.jpeg import encode_jpeg

__all__ = ["NewestFrames"]


class NewestFrames:
    """The newest frame per source (set from the pipeline thread, read from the feed's loop)."""

    def __init__(self, interval_s: float, max_side: int, quality: int) -> None:
        self.interval_s, self.max_side, self.quality = interval_s, max_side, quality
        self._frames: dict[str, Frame] = {}
        self._encoded: dict[str, tuple[float, int, bytes]] = {}  # source → (when, frame index, JPEG)
        self._lock = threading.Lock()
        self.encodes = 0

    def offer(self, frame: Frame) -> None:
        """Remember ``frame`` as its source's newest (a reference; called for every sampled frame)."""
        self._frames[frame.source] = frame

    def sources(self) -> list[str]:
        """The sources that have a frame, sorted."""
        return sorted(list(self._frames))  # list() copies the keys in one step: the pipeline may add one meanwhile

    def jpeg(self, source: str, now: float | None = None) -> bytes | None:
        """The newest frame of ``source`` as JPEG (None before its first frame); re-encoded only
        when a newer frame exists and the last encoding is ``interval_s`` old."""
        now = time.monotonic() if now is None else now
        frame = self._frames.get(source)
        if frame is None:
            return None
        with self._lock:
            cached = self._encoded.get(source)
            if cached is not None and (cached[1] == frame.index or now - cached[0] < self.interval_s):
                return cached[2]
            data = encode_jpeg([frame.image], self.max_side, self.quality)
            self._encoded[source] = (now, frame.index, data)
            self.encodes += 1
            return data
