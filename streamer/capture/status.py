"""What capture says about a source's connection: a frozen :class:`SourceStatus`.

Exports :class:`SourceState`, :class:`SourceStatus` and :data:`StatusCallback`.

Capture knows nothing of the feed: the capture threads hand a :class:`SourceStatus` to the
callback they were given, and whoever wires the run turns it into the protocol's ``status``
event (:func:`streamer.feed.events.status_event`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["SourceState", "SourceStatus", "StatusCallback"]


class SourceState(str, Enum):
    """A source's connection state, as the ``status`` event names it."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    ERROR = "error"


@dataclass(frozen=True)
class SourceStatus:
    """One change of a source's ``state``, with a one-line ``detail``. ``t`` is the media time
    (s) it happened at when known; ``attempt`` and ``delay_s`` come with ``reconnecting``;
    ``wall_time`` is when it happened (Unix seconds)."""

    source: str
    state: SourceState
    detail: str
    t: float | None = None
    attempt: int | None = None
    delay_s: float | None = None
    wall_time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", SourceState(self.state))


StatusCallback = Callable[[SourceStatus], None]
"""Receives each :class:`SourceStatus`; called on a capture thread, so it must be quick."""
