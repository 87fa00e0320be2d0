"""The last minute of each source's drift, for a page that connects after the run started.

Exports :data:`WINDOW_S` and :class:`DriftHistory`.

Embedding events are not logged, so no ``from_seq`` replay brings them back: without this a
new page's drift trace starts empty. :class:`DriftHistory` keeps the ``(t, drift, threshold)``
of each source's clips of the last :data:`WINDOW_S` seconds of media time (what the page's trace
shows), given to it by the console's run observer
(:class:`pipelines.core.observers.ConsoleObserver`) whether or not embedding events go out; the
console serves them at ``/drift.json``.
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["WINDOW_S", "DriftHistory"]

#: Media seconds kept per source: the page's trace window (``trace.js``).
WINDOW_S = 60.0


class DriftHistory:
    """Per source, the drift samples of its last ``window_s`` media seconds, at most
    ``max_points`` each (the console's ``max_trace_points``); one entry per source of the run,
    which bounds the sources. A media time that goes back more than a second (a restarted
    source) starts the source's samples again, as the page's trace does. Safe from any thread."""

    def __init__(self, max_points: int, window_s: float = WINDOW_S) -> None:
        self.max_points, self.window_s = max_points, window_s
        self._lock = threading.Lock()
        self._points: dict[str, deque[tuple[float, float | None, float]]] = {}

    def add(self, source: str, t: float, drift: float | None, threshold: float) -> None:
        """One clip of ``source`` ending at media time ``t``: the drift statistic the detector read
        (None, or not finite, is kept as None: JSON null) and the enter ``threshold`` in force."""
        drift = float(drift) if drift is not None and math.isfinite(drift) else None
        with self._lock:
            points = self._points.setdefault(source, deque(maxlen=self.max_points))
            if points and t < points[-1][0] - 1:
                points.clear()
            points.append((float(t), drift, float(threshold)))
            while points[0][0] < t - self.window_s:
                points.popleft()

    def snapshot(self) -> dict[str, list[tuple[float, float | None, float]]]:
        """``{source: [(t, drift, threshold), …]}``, oldest first."""
        with self._lock:
            return {source: list(points) for source, points in self._points.items()}
