"""Progress of long work on stderr: a live line on a terminal, a line every ``every_s`` otherwise.

Exports :class:`Progress` and :func:`count_of`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "count_of"]


def count_of(n: int, noun: str) -> str:
    """``"1 caption"``, ``"5 captions"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Progress:
    def __init__(self, label: str, total_s: float | None, stream: TextIO | None = None, every_s: float = 10.0):
        self.label = label
        self.total_s = total_s
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = 0.25 if self.tty else every_s
        self._start = self._last = time.monotonic()

    def start(self) -> None:
        """Restart the clock when the work itself starts (after loading models), so the realtime
        factor shown agrees with the run's summary."""
        self._start = self._last = time.monotonic()

    def update(self, media_s: float, captions: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        self._emit(media_s, captions, now, end="\r" if self.tty else "\n")

    def done(self, media_s: float, captions: int) -> None:
        if self.tty:
            self._emit(media_s, captions, time.monotonic(), end="\n")

    def _emit(self, media_s: float, captions: int, now: float, end: str) -> None:
        wall = max(now - self._start, 1e-9)
        of = ""
        if self.total_s:
            of = f" / {self.total_s:.1f} s ({min(100.0, 100 * media_s / self.total_s):3.0f}%)"
        self.stream.write(f"{self.label}: {media_s:.1f} s{of}, {count_of(captions, 'caption')}, {media_s / wall:.1f}x real time{end}")
        self.stream.flush()
