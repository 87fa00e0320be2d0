"""Caption events: what the selective pipeline emits, as the v1 event dict.

Exports :data:`EVENT_VERSION`, :class:`StageLatency` and :class:`CaptionEvent`.

``t``, ``t_start`` and ``t_end`` are media seconds (stream PTS), never wall clock; ``wall_time``
is the Unix time at which the event was made. ``seq`` is not set here: the publisher that
orders events (one counter per output) adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVENT_VERSION", "StageLatency", "CaptionEvent"]

EVENT_VERSION = 1


@dataclass(frozen=True)
class StageLatency:
    """Milliseconds spent on one clip per stage; ``total`` covers the whole step, drift included."""

    encode: float
    predict: float
    decode: float
    total: float

    def to_dict(self) -> dict:
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass(frozen=True)
class CaptionEvent:
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

    def to_dict(self) -> dict:
        return {
            "v": EVENT_VERSION,
            "type": "caption",
            "source": self.source,
            "t": round(self.t, 6),
            "t_start": round(self.t_start, 6),
            "t_end": round(self.t_end, 6),
            "wall_time": round(self.wall_time, 6),
            "text": self.text,
            "labels": [{"text": text, "score": score} for text, score in self.labels],
            "drift": self.drift,
            "reason": self.reason,
            "threshold": self.threshold,
            "dropped_frames": self.dropped_frames,
            "latency_ms": self.latency.to_dict(),
        }
