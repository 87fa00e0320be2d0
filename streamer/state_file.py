"""A small JSON document that outlives the process: read at start, replaced atomically on change.

Exports :class:`StateFile`.

The MQTT and webhook cursors (:class:`~streamer.feed.follower.Cursor`) and the sources paused from
Home Assistant (:class:`~streamer.feed.controls.PausedSources`) keep their state this way.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["StateFile"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class StateFile:
    """The JSON file at ``path``, called ``name`` in messages.

    :meth:`load` is None for a missing file and a ValueError (``"<name> <path>: unreadable
    (why); <remedy>"``) for one that cannot be read or parsed. :meth:`save` writes a temporary
    file and renames it over the old one, so a crash leaves the old state or the new one; a
    write that fails is one warning per failure streak, ending with ``risk``.
    """

    def __init__(self, path: str | Path, name: str, remedy: str, risk: str) -> None:
        self.path = Path(path).expanduser()
        self.name, self.remedy, self.risk = name, remedy, risk
        self._failing = False

    def load(self, parse: Callable[[Any], T]) -> T | None:
        """``parse`` of the file's JSON (it raises KeyError, TypeError or ValueError on a bad shape)."""
        try:
            return parse(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.name} {self.path}: unreadable ({exc}); {self.remedy}") from None

    def save(self, document: Any) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(document) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
            self._failing = False
        except OSError as exc:
            if not self._failing:
                log.warning("%s %s: cannot write it (%s); %s", self.name, self.path, exc.strerror or exc, self.risk)
            self._failing = True
