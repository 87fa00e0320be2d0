"""Run-time controls from outside (MQTT ``detect/set``): which sources are paused.

Exports :class:`PausedSources`.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["PausedSources"]

log = logging.getLogger(__name__)


class PausedSources:
    """A thread-safe set of the source ids someone wants paused (MQTT's ``detect/set``).

    Any thread may :meth:`set` and ask ``source in paused``; the run's
    :class:`~pipelines.core.observers.PauseObserver` reads it between two batches and asks the run
    to drop those sources' frames before encoding. Every change is logged once at INFO.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused: set[str] = set()

    def __contains__(self, source: object) -> bool:
        with self._lock:
            return source in self._paused

    def set(self, source: str, detect: bool) -> None:
        """Resume (``detect`` True) or pause (False) ``source``'s analysis."""
        with self._lock:
            changed = (source in self._paused) == detect
            (self._paused.discard if detect else self._paused.add)(source)
        if changed:
            log.info("%s: analysis %s", source, "resumed" if detect else "paused")
