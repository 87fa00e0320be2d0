"""The decision to decode: a causal drift detector over the clip embedding stream.

Exports :class:`Statistic`, :class:`Smoothing`, :class:`Reason`, :class:`State`, :class:`DriftConfig`,
:class:`Decision` and :class:`DriftDetector`.

This module is the one place that decides when text is decoded. It is sans-I/O:
``feed(t, embedding)`` returns a :class:`Decision` or ``None``.

The rules, applied to every sample in media-time order:

1. **Smoothing.** The embedding is smoothed causally: an exponential moving average with
   ``alpha = 2 / (smoothing_window + 1)``, a mean of the last ``smoothing_window`` samples, or
   none.
2. **Start.** The first sample always fires (``reason="start"``); it is not a scene boundary.
   **Resume.** After :meth:`DriftDetector.resume` (a live source came back after a gap in
   coverage: the scene may have changed meanwhile) the detector starts afresh, as at the start,
   and its next sample fires with ``reason="resume"``.
3. **Drift** is one of three statistics (``statistic``):

   * ``memory`` (default): the ``segment`` statistic below, and beside it the novelty of the
     newest second against a longer memory of the scene as a set
     (:mod:`pipelines.core.scene_memory`, ``memory_s`` = 30 s), which sees a sustained new scene
     right after a busy one; drift is the larger of the segment's value and
     ``novelty × threshold / memory_threshold``. Chosen on real footage
     (``benchmarks/bench_drift_arrangements.py``; README, "Measuring the claim on real footage").
   * ``segment``: scene-relative contrast between the newest ``recent_s`` seconds of
     frames and the segment since the last decision, divided by the contrast that segment has
     shown so far (:mod:`pipelines.core.segment_contrast`). It reads the ``frames`` given with each
     sample (the encoder's visual features of the frames new since the previous sample), or
     the embedding itself when none are given. A decision starts a new segment. Busy scenes
     (cuts within one place, motion, a hand-held camera) raise their own scale; a quiet view
     in which something new appears does not. Measured on real footage, it is what separates
     changes of meaning from shot cuts (README, "Measuring the claim on real footage").
   * ``cosine``: ``1 - cos(smoothed, reference)``, against a fixed or adaptive threshold. The
     reference is what the last caption described: the ``current`` embedding given with the
     sample that fired (the newest frames of the clip), or the unsmoothed embedding of that
     sample when none is given. Smoothing and a pooled clip both still hold some of the old
     scene when drift fires; anchoring on the newest information means the rest of that
     transition does not fire again. It fires at every shot cut of real footage.
4. **Cooldown.** Nothing fires sooner than ``cooldown_s`` after the last decode; a change that
   happens meanwhile fires as soon as the cooldown ends.
5. **Change (enter threshold).** While the detector is ``armed``, after the cooldown, a decode
   fires once drift has been at or above the enter threshold for ``debounce`` consecutive
   samples (``reason="change"``). A sample below it resets the count.
6. **Hysteresis (exit threshold).** A change moves the detector to ``settling``; no change fires
   until the stream has settled, which is either drift below the exit threshold
   (``exit_threshold``, default half the enter threshold: the stream came back to the new
   reference) or a steady stream: ``debounce`` consecutive samples whose step (how far the
   stream moved since the previous sample: ``1 - cos(smoothed_t, smoothed_t-1)``, or for
   ``segment`` the recent window's move on the segment's scale) is below the exit threshold (the stream settled
   somewhere else, e.g. a second cut during the transition; the next sample then fires).
   A drift that wobbles around the enter threshold therefore fires once, not once per crossing.
7. **Heartbeat.** If ``heartbeat_s`` (> 0) passes without a decode, one fires
   (``reason="heartbeat"``), so a subscriber hears from a static scene now and then. It takes a
   new ``cosine`` reference and re-arms the detector; the ``segment`` statistic keeps its
   segment (a heartbeat is not a new scene).
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

from configs.loader import check_range, invalid
from pipelines.core.scene_memory import MemoryContrast, SceneMemory
from pipelines.core.segment_contrast import SegmentContrast

__all__ = ["Statistic", "Smoothing", "Reason", "State", "DriftConfig", "Decision", "DriftDetector"]

log = logging.getLogger(__name__)

# A normal-distribution sigma is this many median absolute deviations.
_MAD_TO_SIGMA = 1.4826


class Statistic(str, Enum):
    MEMORY = "memory"
    SEGMENT = "segment"
    COSINE = "cosine"


# The enter threshold of each statistic when the configuration names none.
DEFAULT_THRESHOLD = {Statistic.MEMORY: 2.25, Statistic.SEGMENT: 1.75, Statistic.COSINE: 0.12}
_MAX_THRESHOLD = {Statistic.MEMORY: 100.0, Statistic.SEGMENT: 100.0, Statistic.COSINE: 2.0}
# The range an adaptive threshold is clipped to when the configuration names none, in each
# statistic's own units. Segment's is a guard, not a tuning: that statistic is already relative
# to the scene, so adapting it only keeps a very noisy source from firing at every cut.
DEFAULT_ADAPTIVE_RANGE = {Statistic.MEMORY: (1.0, 4.0), Statistic.SEGMENT: (1.0, 4.0), Statistic.COSINE: (0.08, 0.5)}


class Smoothing(str, Enum):
    EMA = "ema"
    MEAN = "mean"
    NONE = "none"


class Reason(str, Enum):
    START = "start"
    CHANGE = "change"
    HEARTBEAT = "heartbeat"
    RESUME = "resume"


class State(str, Enum):
    """``armed``: a change can fire. ``settling``: a change fired and the stream has not settled yet."""

    ARMED = "armed"
    SETTLING = "settling"


@dataclass(frozen=True)
class DriftConfig:
    """See the module docstring for how each setting acts.

    ``statistic``: ``memory`` (default), ``segment`` or ``cosine``. ``threshold``: enter
    threshold on drift (default ``None``: 2.25 for ``memory``, 1.75 for ``segment``, 0.12 for
    ``cosine``). ``exit_threshold``: re-arm
    below this (default ``None`` = half the enter threshold; must not exceed it).
    ``smoothing`` applies to ``cosine`` only (``segment`` compares window means).

    ``memory`` settings: ``memory_s``, how far back the scene's memory reaches (default 30 s;
    bounded by ``max_segment_frames`` too); ``memory_threshold``, the novelty that fires on its
    own (default 3.0); ``memory_keep_seen``, whether a decision keeps the frames before it as
    seen, so that a cut back to them is not novel (default ``False``: see
    :class:`pipelines.core.scene_memory.SceneMemory`). The ``segment`` settings apply to
    ``memory`` as well.

    ``segment`` settings: ``recent_s``, the newest media seconds compared with the segment
    (default 1.5); ``spread_floor``, added to the segment's scale (default 0.1: the smallest
    contrast that can fire is ``threshold × spread_floor``, 0.175 for ``segment``); ``max_segment_s``, how far
    back the segment and its contrast history reach (default 6 s); ``max_segment_frames``, a
    bound on the frames kept whatever the frame rate (default 512). The defaults were chosen on
    real footage (``scripts/make_real_bench.py``; README, "Measuring the claim on real footage").

    ``adaptive_window``: samples of drift history kept for the adaptive threshold (default
    240 = 2 min at a 0.5 s stride; bounded by it). ``adaptive_min`` / ``adaptive_max``: the
    range it is clipped to, in the statistic's units (default ``None``: 1.0 to 4.0 for
    ``memory`` and ``segment``, 0.08 to 0.5 for ``cosine``).
    """

    statistic: Statistic = Statistic.MEMORY
    smoothing: Smoothing = Smoothing.EMA
    smoothing_window: int = 2
    threshold: float | None = None
    exit_threshold: float | None = None
    debounce: int = 1
    cooldown_s: float = 2.0
    heartbeat_s: float = 60.0
    adaptive: bool = False
    adaptive_window: int = 240
    adaptive_warmup: int = 20
    adaptive_k: float = 6.0
    adaptive_min: float | None = None
    adaptive_max: float | None = None
    recent_s: float = 1.5
    spread_floor: float = 0.1
    max_segment_s: float = 6.0
    max_segment_frames: int = 512
    memory_s: float = 30.0
    memory_threshold: float = 3.0
    memory_keep_seen: bool = False

    def __post_init__(self) -> None:
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLD[Statistic(self.statistic)])
        low, high = DEFAULT_ADAPTIVE_RANGE[Statistic(self.statistic)]
        if self.adaptive_min is None:
            object.__setattr__(self, "adaptive_min", low)
        if self.adaptive_max is None:
            object.__setattr__(self, "adaptive_max", high)
        top = _MAX_THRESHOLD[Statistic(self.statistic)]
        statistic = f" for the {Statistic(self.statistic).value} statistic"
        check_range("smoothing_window", self.smoothing_window, 1, 1000, context=" samples")
        check_range("threshold", self.threshold, 0.0, top, above=True, context=statistic)
        check_range("recent_s", self.recent_s, 0.0, 30.0, above=True, context=" seconds")
        check_range("spread_floor", self.spread_floor, 0.0, 4.0, above=True)
        check_range("max_segment_s", self.max_segment_s, self.recent_s, 3600.0, above=True, context=" (above recent_s)")
        check_range("memory_s", self.memory_s, self.recent_s, 600.0, above=True, context=" seconds (above recent_s)")
        check_range("memory_threshold", self.memory_threshold, 0.0, 100.0, above=True)
        check_range("max_segment_frames", self.max_segment_frames, 2, 100_000)
        check_range("exit_threshold", self.exit_threshold, 0.0, self.threshold, above=True, null=True, context=" (at most threshold)")
        check_range("debounce", self.debounce, 1, 1000, context=" samples")
        check_range("cooldown_s", self.cooldown_s, 0.0, 86400.0, context=" seconds")
        check_range("heartbeat_s", self.heartbeat_s, 0.0, 604800.0, above=True, zero="off", context=" seconds (a week)")
        if self.heartbeat_s and self.heartbeat_s <= self.cooldown_s:
            raise invalid("heartbeat_s", f"must exceed cooldown_s ({self.cooldown_s:g})", self.heartbeat_s)
        check_range("adaptive_window", self.adaptive_window, 2, 100_000, context=" samples")
        check_range("adaptive_warmup", self.adaptive_warmup, 2, self.adaptive_window, context=" (at most adaptive_window)")
        check_range("adaptive_k", self.adaptive_k, 0.0, 100.0, above=True)
        check_range("adaptive_min", self.adaptive_min, 0.0, top, above=True, context=statistic)
        check_range("adaptive_max", self.adaptive_max, self.adaptive_min, top, context=f" (from adaptive_min){statistic}")

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

    def __init__(self, config: DriftConfig = DriftConfig(), contrast=None):
        """``contrast``: a frame statistic with :class:`SegmentContrast`'s interface to run in
        place of the configured one (the bench compares candidates this way)."""
        self.config = config
        self._recent: deque[np.ndarray] = deque(maxlen=config.smoothing_window)
        self._history: deque[float] = deque(maxlen=config.adaptive_window)  # recent drifts, for the adaptive threshold
        self._contrast = contrast or self._new_contrast()
        self._smoothed: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._first_reason = Reason.START
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

    def _new_contrast(self) -> SegmentContrast | MemoryContrast | None:
        cfg = self.config
        if cfg.statistic is Statistic.COSINE:
            return None
        segment = SegmentContrast(cfg.recent_s, cfg.spread_floor, cfg.max_segment_s, cfg.max_segment_frames)
        if cfg.statistic is Statistic.SEGMENT:
            return segment
        memory = SceneMemory(cfg.memory_s, cfg.max_segment_frames, cfg.memory_keep_seen)
        return MemoryContrast(segment, memory, cfg.threshold / cfg.memory_threshold)

    def resume(self) -> None:
        """The stream comes back after a gap: forget the reference, the smoothing and the
        statistic's segment; the next sample fires ``reason="resume"``. (A statistic given to
        the constructor is replaced by the configured one.)"""
        self._recent.clear()
        self._contrast = self._new_contrast()
        self._smoothed = self._reference = self._current = None
        self._first_reason = Reason.RESUME
        self._set_state(State.ARMED, self._last_t, "resume")

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

    def feed(self, t: float, embedding: np.ndarray, current: np.ndarray | None = None, frames: np.ndarray | None = None) -> Decision | None:
        """One sample: the clip ``embedding`` at media time ``t``; optionally the ``current``
        embedding of its newest frames, which becomes the ``cosine`` reference if this sample
        fires (default: ``embedding`` itself, unsmoothed), and the ``frames`` ``(n, F)`` new since
        the previous sample, which the ``segment`` statistic reads (default: ``embedding`` as
        one frame)."""
        cfg = self.config
        if t < self._last_t:
            raise ValueError(f"media time went backwards: {t} after {self._last_t}")
        e = np.asarray(embedding, dtype=np.float32)
        c = e if current is None else np.asarray(current, dtype=np.float32)
        f = e[None] if frames is None else np.asarray(frames, dtype=np.float32)
        if not all(np.all(np.isfinite(x)) and np.any(x) for x in (e, c, f)):
            self.skipped += 1
            return None
        self._last_t = t
        raw = _unit(e)
        previous = self._smoothed
        s = self._smoothed = self._smooth(raw)
        self._current = raw if current is None else _unit(c)
        contrast = self._contrast.update(t, f) if self._contrast is not None else 0.0
        if self._reference is None:
            return self._fire(t, self._first_reason, 0.0)
        if self._contrast is not None:
            drift, self.last_step = contrast, self._contrast.step
        else:
            drift = float(1.0 - np.dot(s, self._reference))
            self.last_step = float(1.0 - np.dot(s, previous)) if previous is not None else 0.0
        self.last_drift = drift
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
        if self._contrast is not None and reason is not Reason.HEARTBEAT:  # a heartbeat is no new scene
            self._contrast.rebase()
        self._last_fire_t = t
        self._above = 0
        self._steady = 0
        self._set_state(State.SETTLING if reason is Reason.CHANGE else State.ARMED, t, reason.value)
        return Decision(t=t, reason=reason, drift=round(drift, 6), threshold=round(self.enter_threshold, 6))
