"""Run-time controls from outside (MQTT ``detect/set``): which sources are paused.

Exports :class:`PausedSources`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from streamer.state_file import StateFile

__all__ = ["PausedSources"]

log = logging.getLogger(__name__)


class PausedSources:
    """A thread-safe set of the source ids someone wants paused (MQTT's ``detect/set``).

    Any thread may :meth:`set` and ask ``source in paused``; the run's
    :class:`~pipelines.core.observers.PauseObserver` reads it between two batches and asks the run
    to drop those sources' frames before encoding. Every change is logged once at INFO.

    With ``path`` the set outlives the process: it is read from that JSON file at construction
    (``{"paused": ["cam0"]}``; missing: nothing paused) and written again, atomically, at every
    change, so a camera switched off from Home Assistant stays off across restarts
    (:class:`~streamer.state_file.StateFile`: an unreadable file is a ValueError naming it).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._file = StateFile(path, "detect state", "remove it to analyse every source",
                               "a restart may analyse a paused source again") if path else None
        self._paused: set[str] = (self._file.load(_paused_ids) or set()) if self._file else set()

    def __contains__(self, source: object) -> bool:
        with self._lock:
            return source in self._paused

    def paused(self) -> list[str]:
        """The paused source ids, sorted."""
        with self._lock:
            return sorted(self._paused)

    def set(self, source: str, detect: bool) -> None:
        """Resume (``detect`` True) or pause (False) ``source``'s analysis."""
        with self._lock:
            changed = (source in self._paused) == detect
            (self._paused.discard if detect else self._paused.add)(source)
            if changed and self._file:
                self._file.save({"paused": sorted(self._paused)})
        if changed:
            log.info("%s: analysis %s", source, "resumed" if detect else "paused")


def _paused_ids(document) -> set[str]:
    ids = document["paused"]
    if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
        raise TypeError("'paused' is not a list of source ids")
    return set(ids)
