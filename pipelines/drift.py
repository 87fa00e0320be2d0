"""The decision to decode: a causal drift detector over the clip embedding stream.

Exports :class:`Smoothing`, :class:`Reason`, :class:`State`, :class:`DriftConfig`,
:class:`Decision` and :class:`DriftDetector`.

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
5. **Change (enter threshold).** While the detector is ``armed``, after the cooldown, a decode
   fires once drift has been at or above the enter threshold for ``debounce`` consecutive
   samples (``reason="change"``). A sample below it resets the count.
6. **Hysteresis (exit threshold).** A change moves the detector to ``settling``; no change fires
   until the stream has settled, which is either drift below the exit threshold
   (``exit_threshold``, default half the enter threshold: the stream came back to the new
   reference) or a steady stream: ``debounce`` consecutive samples whose step drift
   ``1 - cos(smoothed_t, smoothed_t-1)`` is below the exit threshold (the stream settled
   somewhere else, e.g. a second cut during the transition; the next sample then fires).
   A drift that wobbles around the enter threshold therefore fires once, not once per crossing.
7. **Heartbeat.** If ``heartbeat_s`` (> 0) passes without a decode, one fires
   (``reason="heartbeat"``), so a subscriber hears from a static scene now and then. It takes a
   new reference and re-arms the detector.
8. **Adaptive threshold** (``adaptive: true``). The enter threshold follows the source: it is
   ``median + adaptive_k * sigma`` of the drifts seen over the last
   ``adaptive_window`` samples (``sigma`` from the median absolute deviation, so the few
   samples of a cut barely move it), clipped to ``[adaptive_min, adaptive_max]``. While the
   detector learns the source (its first ``adaptive_warmup`` samples) the fixed
   ``threshold`` applies. The exit threshold keeps its ratio to the enter threshold.
   A noisy source raises its threshold; a quiet one lowers it, down to ``adaptive_min``.
9. **Robustness.** A sample whose embedding is not finite or is all zeros (a black or broken
   frame through a model) is skipped and counted in ``skipped``; media time must not go
   backwards (``ValueError``).

Every :class:`Decision` records why it fired: ``reason``, the ``drift`` that fired and the
enter ``threshold`` in effect.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

__all__ = ["Smoothing", "Reason", "State", "DriftConfig", "Decision", "DriftDetector"]

log = logging.getLogger(__name__)

# A normal-distribution sigma is this many median absolute deviations.
_MAD_TO_SIGMA = 1.4826


class Smoothing(str, Enum):
    EMA = "ema"
    MEAN = "mean"
    NONE = "none"


class Reason(str, Enum):
    START = "start"
    CHANGE = "change"
    HEARTBEAT = "heartbeat"


class State(str, Enum):
    """``armed``: a change can fire. ``settling``: a change fired and the stream has not settled yet."""

    ARMED = "armed"
    SETTLING = "settling"


@dataclass(frozen=True)
class DriftConfig:
    """See the module docstring for how each setting acts.

    ``threshold``: enter threshold on drift (default 0.12). ``exit_threshold``: re-arm below this
    (default ``None`` = half the enter threshold; must not exceed it). ``adaptive_window``:
    samples of drift history kept for the adaptive threshold (default 240 = 2 min at a 0.5 s
    stride; this is the detector's only growing state and it is bounded by it).
    """

    smoothing: Smoothing = Smoothing.EMA
    smoothing_window: int = 2
    threshold: float = 0.12
    exit_threshold: float | None = None
    debounce: int = 1
    cooldown_s: float = 2.0
    heartbeat_s: float = 60.0
    adaptive: bool = False
    adaptive_window: int = 240
    adaptive_warmup: int = 20
    adaptive_k: float = 6.0
    adaptive_min: float = 0.08
    adaptive_max: float = 0.5

    def __post_init__(self) -> None:
        if self.smoothing_window < 1:
            raise ValueError(f"smoothing_window must be at least 1 sample, got {self.smoothing_window}")
        if not 0.0 < self.threshold <= 2.0:
            raise ValueError(f"threshold must be within (0, 2], got {self.threshold}")
        if self.exit_threshold is not None and not 0.0 < self.exit_threshold <= self.threshold:
            raise ValueError(f"exit_threshold must be within (0, threshold={self.threshold}], got {self.exit_threshold}")
        if self.debounce < 1:
            raise ValueError(f"debounce must be at least 1 sample, got {self.debounce}")
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must not be negative, got {self.cooldown_s}")
        if self.heartbeat_s < 0:
            raise ValueError(f"heartbeat_s must be 0 (off) or positive, got {self.heartbeat_s}")
        if self.heartbeat_s and self.heartbeat_s <= self.cooldown_s:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s}) must exceed cooldown_s ({self.cooldown_s})")
        if self.adaptive_window < 2:
            raise ValueError(f"adaptive_window must be at least 2 samples, got {self.adaptive_window}")
        if not 2 <= self.adaptive_warmup <= self.adaptive_window:
            raise ValueError(f"adaptive_warmup must be within [2, adaptive_window={self.adaptive_window}], got {self.adaptive_warmup}")
        if self.adaptive_k <= 0:
            raise ValueError(f"adaptive_k must be positive, got {self.adaptive_k}")
        if not 0.0 < self.adaptive_min <= self.adaptive_max <= 2.0:
            raise ValueError(f"need 0 < adaptive_min <= adaptive_max <= 2, got {self.adaptive_min} and {self.adaptive_max}")

    @property
    def exit_ratio(self) -> float:
        """Exit threshold as a fraction of the enter threshold."""
        return 0.5 if self.exit_threshold is None else self.exit_threshold / self.threshold


@dataclass(frozen=True)
class Decision:
    """Decode now, at media time ``t``, for ``reason``; ``drift`` is the value that fired and
    ``threshold`` the enter threshold in effect."""

    t: float
    reason: Reason
    drift: float
    threshold: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


class DriftDetector:
    """Feed ``(t, embedding)`` in order of ``t``; get a :class:`Decision` when text should be decoded.

    After each :meth:`feed`, ``last_drift``, ``enter_threshold``, ``exit_threshold`` and
    ``state`` describe the sample just seen (the bench draws them).
    """

    def __init__(self, config: DriftConfig = DriftConfig()):
        self.config = config
        self._recent: deque[np.ndarray] = deque(maxlen=config.smoothing_window)
        self._history: deque[float] = deque(maxlen=config.adaptive_window)  # recent drifts, for the adaptive threshold
        self._smoothed: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._last_t = -np.inf
        self._last_fire_t = 0.0
        self._above = 0
        self._steady = 0
        self._state = State.ARMED
        self.last_drift = 0.0
        self.last_step = 0.0
        self.enter_threshold = config.threshold
        self.exit_threshold = config.threshold * config.exit_ratio
        self.skipped = 0

    @property
    def state(self) -> State:
        return self._state

    def _set_state(self, state: State, t: float, why: str) -> None:
        if state is not self._state:
            log.debug("drift %.2f s: %s -> %s (%s)", t, self._state.value, state.value, why)
            self._state = state

    def _smooth(self, e: np.ndarray) -> np.ndarray:
        cfg = self.config
        self._recent.append(e)
        if cfg.smoothing is Smoothing.NONE or self._smoothed is None:
            return e
        if cfg.smoothing is Smoothing.EMA:
            alpha = 2.0 / (cfg.smoothing_window + 1)
            return _unit(alpha * e + (1 - alpha) * self._smoothed)
        return _unit(np.mean(self._recent, axis=0))

    def _update_thresholds(self) -> None:
        cfg = self.config
        if cfg.adaptive and len(self._history) >= cfg.adaptive_warmup:
            h = np.fromiter(self._history, dtype=np.float64)
            med = float(np.median(h))
            sigma = _MAD_TO_SIGMA * float(np.median(np.abs(h - med)))
            self.enter_threshold = float(np.clip(med + cfg.adaptive_k * sigma, cfg.adaptive_min, cfg.adaptive_max))
        else:
            self.enter_threshold = cfg.threshold
        self.exit_threshold = self.enter_threshold * cfg.exit_ratio

    def feed(self, t: float, embedding: np.ndarray, current: np.ndarray | None = None) -> Decision | None:
        """One sample: the clip ``embedding`` at media time ``t`` and, optionally, the ``current``
        embedding of its newest frames, which becomes the reference if this sample fires
        (default: ``embedding`` itself, unsmoothed)."""
        cfg = self.config
        if t < self._last_t:
            raise ValueError(f"media time went backwards: {t} after {self._last_t}")
        e = np.asarray(embedding, dtype=np.float32)
        c = e if current is None else np.asarray(current, dtype=np.float32)
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(c)) and np.any(e) and np.any(c)):
            self.skipped += 1
            return None
        self._last_t = t
        raw = _unit(e)
        previous = self._smoothed
        s = self._smoothed = self._smooth(raw)
        self._current = raw if current is None else _unit(c)
        if self._reference is None:
            return self._fire(t, Reason.START, 0.0)
        drift = self.last_drift = float(1.0 - np.dot(s, self._reference))
        self.last_step = float(1.0 - np.dot(s, previous)) if previous is not None else 0.0
        self._update_thresholds()
        if self._state is State.SETTLING:
            self._steady = self._steady + 1 if self.last_step < self.exit_threshold else 0
            if drift < self.exit_threshold:
                self._set_state(State.ARMED, t, f"drift {drift:.3f} below exit {self.exit_threshold:.3f}")
            elif self._steady >= cfg.debounce:
                self._set_state(State.ARMED, t, f"steady elsewhere, drift {drift:.3f}")
                self._above = cfg.debounce - 1  # the stream settled away from the reference: next sample above fires
        armed = self._state is State.ARMED
        if armed:
            self._above = self._above + 1 if drift >= self.enter_threshold else 0
        self._history.append(drift)
        since = t - self._last_fire_t
        if since < cfg.cooldown_s:
            return None
        if armed and self._above >= cfg.debounce:
            return self._fire(t, Reason.CHANGE, drift)
        if cfg.heartbeat_s and since >= cfg.heartbeat_s:
            return self._fire(t, Reason.HEARTBEAT, drift)
        return None

    def _fire(self, t: float, reason: Reason, drift: float) -> Decision:
        self._reference = self._current
        self._last_fire_t = t
        self._above = 0
        self._steady = 0
        self._set_state(State.SETTLING if reason is Reason.CHANGE else State.ARMED, t, reason.value)
        return Decision(t=t, reason=reason, drift=round(drift, 6), threshold=round(self.enter_threshold, 6))
