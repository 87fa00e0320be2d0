"""What crosses the capture thread: decoded frames, the end-of-stream marker, and the error
a source raises.

Exports :class:`SourceError`, :class:`Frame` and :class:`EndOfStream`. (Light on purpose: no
decoder is imported here, so code that only handles frames loads quickly.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs.errors import UserError

__all__ = ["SourceError", "Frame", "EndOfStream"]


class SourceError(UserError):
    """A source cannot be opened or read. The message is one line naming the source."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``pts`` is media time in seconds from the start of the stream (monotonic per source);
    ``wall_time`` is the Unix time at which the frame was captured; ``image`` is RGB ``uint8``
    of shape ``(H, W, 3)``; ``index`` counts decoded frames of the source, kept or not, so gaps
    show how many were skipped by sampling. ``resumed`` marks the first frame of a live source
    after a reconnect: coverage had a gap just before it.
    """

    source: str
    index: int
    pts: float
    wall_time: float
    image: np.ndarray
    resumed: bool = False


@dataclass(frozen=True)
class EndOfStream:
    """The sentinel that ends a capture queue.

    ``error`` is ``None`` when the source ended normally, otherwise a one-line message naming
    the source and the problem. ``dropped`` counts frames the buffer policy discarded.
    """

    source: str
    error: str | None = None
    dropped: int = 0
