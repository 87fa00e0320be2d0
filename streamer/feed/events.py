"""Every event the analyzer emits, built in one place as protocol v1 dicts.

Exports :class:`LatencySource`, :class:`CaptionSource`, :func:`caption_event`, :class:`BaselineCaptionEvent`,
:data:`ENRICHMENT_STATES`, :class:`EnrichmentEvent`, :class:`StatsSource`, :func:`status_event`, :func:`uniform_decodes`, :func:`stats_event` and
:func:`embedding_event` and :func:`scene_event`.

The types and their fields are the protocol's (:mod:`streamer.feed.protocol`, one JSON Schema per
type in ``streamer/feed/schemas/``); this module is where a producer gets one, so the version
(:data:`~streamer.feed.protocol.PROTOCOL_VERSION`) and the field names live in one file. ``seq`` is
never set here: the :class:`~streamer.feed.bus.EventBus` assigns it to the logged types.

``t``, ``t_start`` and ``t_end`` are media seconds (stream PTS), never wall clock; ``wall_time``
is the Unix time at which the event was made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from streamer.capture.status import SourceStatus
from streamer.feed.protocol import PROTOCOL_VERSION, EventType

__all__ = [
    "LatencySource",
    "CaptionSource",
    "caption_event",
    "BaselineCaptionEvent",
    "ENRICHMENT_STATES",
    "EnrichmentEvent",
    "StatsSource",
    "status_event",
    "uniform_decodes",
    "stats_event",
    "embedding_event",
    "scene_event",
]

def _head(kind: EventType, source: str, wall_time: float | None = None) -> dict:
    return {"v": PROTOCOL_VERSION, "type": kind.value, "source": source, "wall_time": round(time.time() if wall_time is None else wall_time, 6)}


class LatencySource(Protocol):
    """What :func:`caption_event` reads of a caption's per-stage milliseconds."""

    encode: float
    predict: float
    decode: float
    total: float


class CaptionSource(Protocol):
    """What :func:`caption_event` reads of a caption (:class:`pipelines.core.caption.Caption`)."""

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
    latency: LatencySource
    dropped_frames: int


def caption_event(caption: CaptionSource) -> dict:
    """A ``caption`` event: the selective path decoded text for ``[t_start, t_end]`` at ``t``, for
    ``reason`` (``start``, ``change``, ``heartbeat``, ``resume``), ``drift`` against ``threshold``."""
    c = caption
    return {
        **_head(EventType.CAPTION, c.source, c.wall_time),
        "t": round(c.t, 6),
        "t_start": round(c.t_start, 6),
        "t_end": round(c.t_end, 6),
        "text": c.text,
        "labels": [{"text": text, "score": score} for text, score in c.labels],
        "drift": c.drift,
        "reason": c.reason,
        "threshold": c.threshold,
        "dropped_frames": c.dropped_frames,
        "latency_ms": {k: round(getattr(c.latency, k), 3) for k in ("encode", "predict", "decode", "total")},
    }


@dataclass(frozen=True)
class BaselineCaptionEvent:
    """A ``baseline_caption``: the comparison VLM's caption of the clip ``[t_start, t_end]``.

    ``weights`` says whether they were pretrained or random (then ``note`` says the text is token
    ids); ``lag_s`` is how far (media seconds) the stream's head had moved past the clip when the
    caption was ready, ``wall_lag_s`` the wall seconds from hand-over to caption."""

    source: str
    t_start: float
    t_end: float
    wall_time: float
    text: str
    weights: str
    note: str
    lag_s: float
    wall_lag_s: float
    prefill_ms: float
    decode_ms: float
    total_ms: float

    def to_dict(self) -> dict:
        return {
            **_head(EventType.BASELINE_CAPTION, self.source, self.wall_time),
            "t": round(self.t_end, 6),
            "t_start": round(self.t_start, 6),
            "t_end": round(self.t_end, 6),
            "text": self.text,
            "weights": self.weights,
            "note": self.note,
            "lag_s": round(self.lag_s, 3),
            "wall_lag_s": round(self.wall_lag_s, 3),
            "latency_ms": {"prefill": round(self.prefill_ms, 3), "decode": round(self.decode_ms, 3), "total": round(self.total_ms, 3)},
        }


ENRICHMENT_STATES = ("done", "failed", "timeout", "skipped")


@dataclass(frozen=True)
class EnrichmentEvent:
    """An ``enrichment``: the ``vlm`` decoder's text for the caption whose seq is ``caption_seq``
    (media time ``t``, the caption's). ``state`` is ``done`` (with ``text``) or ``failed``,
    ``timeout``, ``skipped`` (with a one-line ``detail``). ``model`` names the checkpoint or the
    random architecture, ``weights`` is ``pretrained`` or ``random`` (then ``note`` says the text
    is token ids). ``change``: the model was shown the previous caption's frame too and asked
    what changed. ``latency_ms`` is the model's own time, ``cpu_s`` the CPU time of the worker
    thread during it, ``lag_s`` the wall seconds from the decision to this event (``None`` for
    what never reached the model)."""

    source: str
    caption_seq: int
    t: float
    state: str
    text: str | None
    detail: str | None
    model: str
    weights: str
    note: str | None
    change: bool = False
    latency_ms: float | None = None
    cpu_s: float | None = None
    lag_s: float | None = None
    tokens: int | None = None
    wall_time: float | None = None

    def __post_init__(self) -> None:
        if self.state not in ENRICHMENT_STATES:
            raise ValueError(f"enrichment state must be one of {', '.join(ENRICHMENT_STATES)}, got {self.state!r}")
        if (self.state == "done") != (self.text is not None) or (self.state != "done") != bool(self.detail):
            raise ValueError(f"an enrichment {self.state!r} carries {'text' if self.state == 'done' else 'a detail'}, and only that")

    def to_dict(self) -> dict:
        def r(v: float | None, n: int) -> float | None:
            return None if v is None else round(v, n)

        return {
            **_head(EventType.ENRICHMENT, self.source, self.wall_time),
            "caption_seq": self.caption_seq,
            "t": round(self.t, 6),
            "state": self.state,
            "text": self.text,
            "detail": self.detail,
            "model": self.model,
            "weights": self.weights,
            "note": self.note,
            "change": self.change,
            "tokens": self.tokens,
            "latency_ms": r(self.latency_ms, 3),
            "cpu_s": r(self.cpu_s, 4),
            "lag_s": r(self.lag_s, 3),
        }


def status_event(status: SourceStatus) -> dict:
    """The ``status`` event of what capture said (:class:`~streamer.capture.status.SourceStatus`):
    a source's connection ``state`` changed; ``attempt``, ``delay_s`` and ``t`` only when known."""
    extra = {k: getattr(status, k) for k in ("t", "attempt", "delay_s") if getattr(status, k) is not None}
    return {**_head(EventType.STATUS, status.source, status.wall_time), "state": status.state.value, "detail": status.detail, **extra}


class StatsSource(Protocol):
    """What :func:`stats_event` reads of one source's running counts."""

    frames: int
    clips: int
    decodes: int
    first_t: float | None
    last_t: float

    @property
    def media_s(self) -> float: ...

    def percentile(self, which: str, q: float) -> float: ...


def uniform_decodes(media_s: float, rate_hz: float = 1.0) -> int:
    """Decodes a uniform captioner at ``rate_hz`` makes over ``media_s`` seconds: one at the start,
    then one every ``1 / rate_hz`` seconds."""
    if media_s < 0:
        return 0
    return int(math.floor(media_s * rate_hz + 1e-9)) + 1


def stats_event(
    source: str,
    stats: StatsSource,
    *,
    dropped_frames: int = 0,
    wall_s: float | None = None,
    wall_time: float | None = None,
    decoder: dict | None = None,
) -> dict:
    """A ``stats`` event: one source's rates, drops, latencies and decode economy.

    ``wall_s`` is how long the source has been analysed (for ``fps``, frames per wall second;
    0 when unknown); ``wall_time`` defaults to now. ``uniform_1hz_decodes`` is what a uniform
    1 Hz captioner would have spent over the same media time. ``latency_ms`` gives p50/p95 of the
    per-clip step (``step``: encode + predict + drift) and of the decode when it fired
    (``decode``), and top-level ``p50``/``p95`` of the step for clients that read one figure.
    ``decoder`` (with the ``vlm`` decoder) is its budget spent against the budget and its counts
    (:meth:`pipelines.vlm.enrichment.EnrichmentObserver.decoder_stats`).
    """
    media_s = stats.media_s
    extra = {"decoder": decoder} if decoder is not None else {}

    def pct(which: str, q: float) -> float:
        return round(stats.percentile(which, q), 3)

    return {
        **_head(EventType.STATS, source, wall_time),
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
        **extra,
    }


def embedding_event(source: str, t_start: float, t_end: float, embedding: np.ndarray, *,
                    drift: float | None, threshold: float) -> dict:
    """An ``embedding`` event: one clip's unit vector ``(D,)`` in the text space, as an array (the
    bus encodes it as float16 once for every subscriber), with the drift statistic the detector
    read for this clip and the enter ``threshold`` in force (a client draws the drift trace from
    them; ``drift`` None, or not finite, goes out as null)."""
    drift = round(float(drift), 6) if drift is not None and math.isfinite(drift) else None
    return {**_head(EventType.EMBEDDING, source), "t": t_end, "t_start": t_start, "t_end": t_end,
            "drift": drift, "threshold": round(float(threshold), 6), "embedding": embedding}


_SCENE_FIELDS = ("id", "start_time", "end_time", "caption_seq", "caption", "labels", "snapshot", "description")


def scene_event(scene: Mapping[str, Any], state: str, t: float) -> dict:
    """A ``scene`` event: ``state`` (``new``, ``update``, ``end``) of the scene whose whole state is
    ``scene`` (``source`` and the schema's scene fields), caused at media time ``t``
    (:mod:`streamer.feed.scenes` keeps the scenes)."""
    if state not in ("new", "update", "end"):
        raise ValueError(f"scene state must be new, update or end, got {state!r}")
    return {**_head(EventType.SCENE, scene["source"]), "state": state, "t": t, **{k: scene[k] for k in _SCENE_FIELDS}}
