"""Run-time controls from outside (MQTT ``detect/set``): which sources are paused.

Exports :class:`PausedSources`.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["PausedSources"]

log = logging.getLogger(__name__)


class PausedSources:
    """A thread-safe set of paused source ids: the run loop drops their frames before encoding.

    Any thread may :meth:`set`; the run loop asks ``source in paused`` per frame. Every change is
    logged once at INFO.
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
