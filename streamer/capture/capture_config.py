"""Every capture knob in one frozen dataclass, loadable from the ``capture:`` YAML section.

Exports :class:`RtspTransport` and :class:`CaptureConfig`.

YAML form (every key optional; ``sources`` holds per-source overrides keyed by source id)::

    capture:
      buffer_size: 8
      stall_timeout_s: 10
      sources:
        cam1: {rtsp_transport: udp, stall_timeout_s: 30}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from configs.loader import ConfigError, build
from streamer.worker import OverflowPolicy

__all__ = ["RtspTransport", "CaptureConfig"]

#: Most frames held per source (a 640×360 RGB frame is 0.7 MB: 128 frames are ~90 MB).
MAX_BUFFER_SIZE = 128
#: Most consecutive failed attempts ``max_attempts`` may name (0 retries forever).
MAX_ATTEMPTS = 1_000_000
#: Longest any timeout, backoff or staleness setting may be.
MAX_SECONDS = 3600.0
#: Largest ``backoff_multiplier``.
MAX_BACKOFF_MULTIPLIER = 10.0


class RtspTransport(str, Enum):
    """How RTP travels for ``rtsp://`` sources (FFmpeg's ``rtsp_transport`` option)."""

    TCP = "tcp"  # interleaved in the RTSP connection: works through NAT and firewalls, no loss
    UDP = "udp"  # lower latency, frames lost on a busy network
    UDP_MULTICAST = "udp_multicast"
    HTTP = "http"  # tunnelled through HTTP


@dataclass(frozen=True)
class CaptureConfig:
    """How sources are captured, buffered, watched and reconnected.

    buffer_size: Frames held between a capture thread and the pipeline. Defaults to 8, at most
        ``MAX_BUFFER_SIZE`` (128).
    policy: :class:`OverflowPolicy` when the buffer is full; ``None`` (``auto`` in YAML, the
        default) means ``drop_oldest`` for live sources and ``--realtime`` files, ``wait`` otherwise.
    realtime: Pace files at their frame rate, as a camera would deliver them. Defaults to off.
    rtsp_transport: :class:`RtspTransport` for ``rtsp://`` sources. Defaults to ``tcp``.
    open_timeout_s: Longest wait for a live source to open. Defaults to 10 s.
    probe_s: Media time FFmpeg may read from a stream to find its parameters before the first
        frame; shorter opens faster, too short can miss the frame rate. Defaults to 1 s.
    read_timeout_s: Longest wait for one read from a live source; also bounds how long stopping
        waits on a source blocked in a read. Defaults to 5 s.
    stall_timeout_s: A live source that delivers no frame for this long is closed and
        reconnected. Defaults to 10 s.
    backoff_initial_s: Delay before the first retry. Defaults to 1 s.
    backoff_multiplier: Each further retry waits this many times longer. Defaults to 2.
    backoff_max_s: Cap on the retry delay. Defaults to 30 s.
    backoff_jitter: Each delay is scaled by a random factor in ``[1 - j, 1 + j]`` (never above
        the cap), so cameras behind one failed switch do not retry in lockstep. Defaults to 0.2.
    backoff_reset_s: A connection that has delivered frames for this long resets the delay to
        ``backoff_initial_s``. Defaults to 0: its first frame does, so a camera that comes back
        after a flapping spell is retried quickly when it drops again; a larger value keeps a
        camera that flaps faster than this backing off.
    max_attempts: Consecutive failed attempts before a live source gives up; 0 retries forever
        (the default).
    stale_after_s: A frame of a live source (or ``realtime`` file) handed to the pipeline this
        long after capture counts as stale; 0 counts none. Defaults to 2 s.
    overrides: Per-source configs, keyed by source id; see :meth:`for_source`.

    Every duration is at most ``MAX_SECONDS`` (3600), ``backoff_multiplier`` at most 10 and
    ``max_attempts`` at most 1,000,000; NaN and infinities are refused.
    """

    buffer_size: int = 8
    policy: OverflowPolicy | None = None
    realtime: bool = False
    rtsp_transport: RtspTransport = RtspTransport.TCP
    open_timeout_s: float = 10.0
    probe_s: float = 1.0
    read_timeout_s: float = 5.0
    stall_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_multiplier: float = 2.0
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.2
    backoff_reset_s: float = 0.0
    max_attempts: int = 0
    stale_after_s: float = 2.0
    overrides: Mapping[str, CaptureConfig] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    def __post_init__(self) -> None:
        _check_int(self.buffer_size, "buffer_size", 1, MAX_BUFFER_SIZE)
        if self.policy is OverflowPolicy.DROP_NEWEST:  # a camera's newest frames are the ones that matter
            raise ValueError(f"policy: must be wait, drop_oldest or auto, got {self.policy.value}")
        _check_int(self.max_attempts, "max_attempts", 0, MAX_ATTEMPTS)
        for name in (
            "open_timeout_s",
            "probe_s",
            "read_timeout_s",
            "stall_timeout_s",
            "backoff_initial_s",
            "backoff_max_s",
        ):
            _check_float(getattr(self, name), name, 0.0, MAX_SECONDS, inclusive=False)
        for name in ("backoff_reset_s", "stale_after_s"):
            _check_float(getattr(self, name), name, 0.0, MAX_SECONDS)
        _check_float(self.backoff_multiplier, "backoff_multiplier", 1.0, MAX_BACKOFF_MULTIPLIER)
        _check_float(self.backoff_jitter, "backoff_jitter", 0.0, 1.0)
        if self.backoff_jitter >= 1.0:
            raise ValueError(f"backoff_jitter: must be below 1, got {self.backoff_jitter}")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s: must be at least backoff_initial_s ({self.backoff_initial_s}), got {self.backoff_max_s}"
            )

    def buffer_policy(self, live: bool) -> OverflowPolicy:
        """The policy for a source: the configured one, else by liveness and ``realtime``."""
        if self.policy is not None:
            return self.policy
        return OverflowPolicy.DROP_OLDEST if live or self.realtime else OverflowPolicy.WAIT

    def for_source(self, source_id: str) -> CaptureConfig:
        """The config for ``source_id``: its override if there is one, else this config."""
        return self.overrides.get(source_id, self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "capture") -> CaptureConfig:
        """Build from a YAML mapping with :func:`configs.loader.build` (errors name ``where.key``).
        ``policy: auto`` means ``None``. Overrides under ``sources`` start from the section's values."""
        data = _auto_policy(data or {})
        per_source = data.pop("sources", None) or {}
        if not isinstance(per_source, Mapping):
            raise ConfigError(f"{where}.sources: expected a mapping of source id to settings, got {per_source!r}")
        base = build(cls, data, where)
        overrides = {}
        for source_id, values in per_source.items():
            at = f"{where}.sources.{source_id}"
            if not isinstance(values, Mapping):
                raise ConfigError(f"{at}: expected a mapping of settings, got {values!r}")
            if "sources" in values:
                raise ConfigError(f"{at}.sources: overrides cannot nest")
            overrides[str(source_id)] = build(cls, {**data, **_auto_policy(values)}, at)
        return dataclasses.replace(base, overrides=MappingProxyType(overrides))

    def check_sources(self, source_ids: set[str], where: str = "capture") -> None:
        """Raise :class:`ValueError` if an override names a source that is not configured."""
        unknown = sorted(set(self.overrides) - source_ids)
        if unknown:
            raise ValueError(
                f"{where}.sources: no source with id {', '.join(map(repr, unknown))} "
                f"(sources: {', '.join(sorted(source_ids)) or 'none'})"
            )


def _auto_policy(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if out.get("policy") == "auto":
        out["policy"] = None
    return out


def _check_int(value: int, name: str, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name}: must be an integer within {minimum}..{maximum}, got {value!r}")


def _check_float(value: float, name: str, minimum: float, maximum: float, inclusive: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= minimum if inclusive else value > minimum) and value <= maximum
    if not ok:
        raise ValueError(f"{name}: must be a number {'>=' if inclusive else '>'} {minimum:g} and <= {maximum:g}, "
                         f"got {value!r}")
