"""Decode economy: what the selective path spent on text, beside what uniform decoding would have.

Exports :func:`uniform_decodes` and :func:`stats_event`.

The ``stats`` event (``streamer/schemas/stats.json``) carries, per source, the decodes so far,
the decode rate per media second and the decodes a uniform 1 Hz captioner would have made over
the same media time, so a subscriber sees the saving live.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from pipelines.events import EVENT_VERSION
from pipelines.percentiles import percentile

if TYPE_CHECKING:
    from pipelines.selective import PipelineStats

__all__ = ["uniform_decodes", "stats_event"]


def uniform_decodes(media_s: float, rate_hz: float = 1.0) -> int:
    """Decodes a uniform captioner at ``rate_hz`` makes over ``media_s`` seconds: one at the start,
    then one every ``1 / rate_hz`` seconds."""
    if media_s < 0:
        return 0
    return int(math.floor(media_s * rate_hz + 1e-9)) + 1


def stats_event(
    source: str,
    stats: PipelineStats,
    *,
    dropped_frames: int = 0,
    wall_s: float | None = None,
    wall_time: float | None = None,
) -> dict:
    """The v1 ``stats`` event of one source from its pipeline's ``stats``.

    ``wall_s`` is how long the source has been analysed (for ``fps``, frames per wall second;
    omitted when unknown); ``wall_time`` defaults to now. ``latency_ms`` gives p50/p95 of the
    per-clip step (``step``: encode + predict + drift) and of the decode when it fired
    (``decode``), and top-level ``p50``/``p95`` of the step for clients that read one figure.
    """
    media_s = stats.media_s

    def pct(which: str, q: float) -> float:
        return percentile(getattr(stats, which), q, empty=0.0)

    event = {
        "v": EVENT_VERSION,
        "type": "stats",
        "source": source,
        "wall_time": round(time.time() if wall_time is None else wall_time, 6),
        "t": round(stats.last_t, 6),
        "fps": round(stats.frames / wall_s, 3) if wall_s else 0.0,
        "dropped_frames": int(dropped_frames),
        "clips": stats.clips,
        "decodes": stats.decodes,
        "decode_rate_hz": round(stats.decodes / media_s, 4) if media_s > 0 else 0.0,
        "uniform_1hz_decodes": uniform_decodes(media_s) if stats.first_t is not None else 0,
        "latency_ms": {
            "p50": pct("step_ms", 50),
            "p95": pct("step_ms", 95),
            "step": {"p50": pct("step_ms", 50), "p95": pct("step_ms", 95)},
            "decode": {"p50": pct("decode_ms", 50), "p95": pct("decode_ms", 95)},
        },
    }
    return event
