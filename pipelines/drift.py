"""The decision to decode: a causal drift detector over the clip embedding stream.

Exports :class:`Smoothing`, :class:`Reason`, :class:`DriftConfig`, :class:`Decision` and
:class:`DriftDetector`.

This module is the one place that decides when text is decoded. It is sans-I/O:
``feed(t, embedding)`` returns a :class:`Decision` or ``None``.

The rules, applied to every sample in media-time order:

1. **Smoothing.** The embedding is smoothed causally: an exponential moving average with
   ``alpha = 2 / (smoothing_window + 1)``, a mean of the last ``smoothing_window`` samples, or
   none.
2. **Start.** The first sample always fires (``reason="start"``); it is not a scene boundary.
3. **Drift** is ``1 - cos(smoothed, reference)``. The reference is what the last caption
   described: the ``current`` embedding given with the sample that fired (the newest frames of
   the clip), or the unsmoothed embedding of that sample when none is given. Smoothing and a
   pooled clip both still hold some of the old scene when drift fires; anchoring on the newest
   information means the rest of that transition does not fire again.
4. **Cooldown.** Nothing fires sooner than ``cooldown_s`` after the last decode; a change that
   happens meanwhile fires as soon as the cooldown ends.
5. **Change.** After the cooldown, a decode fires once drift has been at or above ``threshold``
   for ``debounce`` consecutive samples (``reason="change"``). A sample below the threshold
   resets the count.
6. **Heartbeat.** If ``heartbeat_s`` (> 0) passes without a decode, one fires
   (``reason="heartbeat"``), so a subscriber hears from a static scene now and then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

__all__ = ["Smoothing", "Reason", "DriftConfig", "Decision", "DriftDetector"]


class Smoothing(str, Enum):
    EMA = "ema"
    MEAN = "mean"
    NONE = "none"


class Reason(str, Enum):
    START = "start"
    CHANGE = "change"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class DriftConfig:
    """See the module docstring for how each setting acts."""

    smoothing: Smoothing = Smoothing.EMA
    smoothing_window: int = 2
    threshold: float = 0.12
    debounce: int = 1
    cooldown_s: float = 2.0
    heartbeat_s: float = 60.0

    def __post_init__(self) -> None:
        if self.smoothing_window < 1:
            raise ValueError(f"smoothing_window must be at least 1 sample, got {self.smoothing_window}")
        if not 0.0 < self.threshold <= 2.0:
            raise ValueError(f"threshold must be within (0, 2], got {self.threshold}")
        if self.debounce < 1:
            raise ValueError(f"debounce must be at least 1 sample, got {self.debounce}")
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must not be negative, got {self.cooldown_s}")
        if self.heartbeat_s < 0:
            raise ValueError(f"heartbeat_s must be 0 (off) or positive, got {self.heartbeat_s}")
        if self.heartbeat_s and self.heartbeat_s <= self.cooldown_s:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s}) must exceed cooldown_s ({self.cooldown_s})")


@dataclass(frozen=True)
class Decision:
    """Decode now, at media time ``t``, for ``reason``; ``drift`` is the value that fired."""

    t: float
    reason: Reason
    drift: float
    threshold: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


class DriftDetector:
    """Feed ``(t, embedding)`` in order of ``t``; get a :class:`Decision` when text should be decoded."""

    def __init__(self, config: DriftConfig = DriftConfig()):
        self.config = config
        self._recent: deque[np.ndarray] = deque(maxlen=config.smoothing_window)
        self._smoothed: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._last_fire_t = 0.0
        self._above = 0
        self.last_drift = 0.0

    def _smooth(self, e: np.ndarray) -> np.ndarray:
        cfg = self.config
        self._recent.append(e)
        if cfg.smoothing is Smoothing.NONE or self._smoothed is None:
            return e
        if cfg.smoothing is Smoothing.EMA:
            alpha = 2.0 / (cfg.smoothing_window + 1)
            return _unit(alpha * e + (1 - alpha) * self._smoothed)
        return _unit(np.mean(self._recent, axis=0))

    def feed(self, t: float, embedding: np.ndarray, current: np.ndarray | None = None) -> Decision | None:
        """One sample: the clip ``embedding`` at media time ``t`` and, optionally, the ``current``
        embedding of its newest frames, which becomes the reference if this sample fires
        (default: ``embedding`` itself, unsmoothed)."""
        cfg = self.config
        raw = _unit(np.asarray(embedding, dtype=np.float32))
        s = self._smoothed = self._smooth(raw)
        self._current = raw if current is None else _unit(np.asarray(current, dtype=np.float32))
        if self._reference is None:
            return self._fire(t, Reason.START, 0.0)
        drift = self.last_drift = float(1.0 - np.dot(s, self._reference))
        self._above = self._above + 1 if drift >= cfg.threshold else 0
        since = t - self._last_fire_t
        if since < cfg.cooldown_s:
            return None
        if self._above >= cfg.debounce:
            return self._fire(t, Reason.CHANGE, drift)
        if cfg.heartbeat_s and since >= cfg.heartbeat_s:
            return self._fire(t, Reason.HEARTBEAT, drift)
        return None

    def _fire(self, t: float, reason: Reason, drift: float) -> Decision:
        self._reference = self._current
        self._last_fire_t = t
        self._above = 0
        return Decision(t=t, reason=reason, drift=round(drift, 6), threshold=self.config.threshold)
