"""The selective path's decision in domain terms: a :class:`Caption` with its :class:`StageLatency`.

Exports :class:`StageLatency` and :class:`Caption`.

The pipeline returns these; the wire form (the protocol's ``caption`` event) is made of one by
:func:`streamer.feed.events.caption_event`, so the sans-I/O core knows no event type.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StageLatency", "Caption"]


@dataclass(frozen=True)
class StageLatency:
    """Milliseconds spent on one clip per stage; ``total`` covers the whole step, drift included."""

    encode: float
    predict: float
    decode: float
    total: float


@dataclass(frozen=True)
class Caption:
    """The selective path decoded ``text`` (and scored ``labels``) for ``[t_start, t_end]`` at
    media time ``t``, for ``reason`` (``start``, ``change``, ``heartbeat``, ``resume``), ``drift`` against
    ``threshold``; ``wall_time`` is when (Unix seconds); ``dropped_frames`` counts the frames
    the capture buffer dropped since the previous caption."""

    source: str
    t: float
    t_start: float
    t_end: float
    wall_time: float
    text: str
    labels: tuple[tuple[str, float], ...]
    drift: float
    reason: str
    threshold: float
    latency: StageLatency
    dropped_frames: int = 0
