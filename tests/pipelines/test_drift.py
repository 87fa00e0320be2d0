"""The drift detector's rules, one by one, on synthetic embedding sequences (0.5 s apart).

The machinery (start, cooldown, debounce, hysteresis, heartbeat, adaptive threshold) is
specified here with the ``cosine`` statistic, whose drift is easy to compute by hand; the
``segment`` statistic has its own file, ``test_segment_contrast.py``."""

import numpy as np
import pytest

from pipelines.core.drift import DriftConfig, DriftDetector, Reason, Smoothing, Statistic

DIM = 32
STEP = 0.5
rng = np.random.default_rng(0)
A, B, C = (v / np.linalg.norm(v) for v in rng.normal(size=(3, DIM)))


def fires(detector, sequence, start=0.0):
    """Feed ``sequence`` 0.5 s apart; return ``[(t, reason), …]`` of the decisions."""
    out = []
    for i, e in enumerate(sequence):
        d = detector.feed(start + i * STEP, e)
        if d is not None:
            out.append((start + i * STEP, d.reason))
    return out


def noisy(base, n, sigma, seed=1):
    r = np.random.default_rng(seed)
    return [base + r.normal(scale=sigma, size=DIM) for _ in range(n)]


def config(**kw):
    return DriftConfig(**{"statistic": Statistic.COSINE, "smoothing": Smoothing.NONE, "threshold": 0.3, "debounce": 1, "cooldown_s": 1.0, "heartbeat_s": 0.0, **kw})


def test_the_first_sample_fires_a_start_caption_and_a_static_stream_nothing_else():
    assert fires(DriftDetector(config()), [A] * 40) == [(0.0, Reason.START)]


def test_a_step_fires_one_change_at_the_step():
    assert fires(DriftDetector(config()), [A] * 10 + [B] * 10) == [(0.0, Reason.START), (5.0, Reason.CHANGE)]


def test_debounce_waits_for_k_samples_above_the_threshold():
    assert fires(DriftDetector(config(debounce=3)), [A] * 10 + [B] * 10)[1] == (6.0, Reason.CHANGE)


def test_a_single_spike_does_not_survive_debounce():
    assert fires(DriftDetector(config(debounce=2)), [A] * 10 + [B] + [A] * 10) == [(0.0, Reason.START)]


def test_cooldown_delays_a_change_until_the_minimum_gap_has_passed():
    # A cut 0.5 s after the start caption fires as soon as the 3 s cooldown ends, not before.
    got = fires(DriftDetector(config(cooldown_s=3.0)), [A] + [B] * 10)
    assert got == [(0.0, Reason.START), (3.0, Reason.CHANGE)]


def test_heartbeat_fires_on_a_static_scene_at_the_maximum_gap():
    got = fires(DriftDetector(config(heartbeat_s=5.0)), [A] * 25)
    assert got == [(0.0, Reason.START), (5.0, Reason.HEARTBEAT), (10.0, Reason.HEARTBEAT)]


def test_noise_below_the_threshold_never_fires():
    assert fires(DriftDetector(config()), noisy(A, 200, sigma=0.02)) == [(0.0, Reason.START)]


def test_a_gradual_transition_fires_once_when_anchored_on_the_newest_frames():
    # A pooled clip crosses from A to B over 4 samples; the newest frames already show B.
    detector = DriftDetector(config(threshold=0.2, cooldown_s=1.0))
    mix = [A] * 6 + [(1 - w) * A + w * B for w in (0.25, 0.5, 0.75)] + [B] * 10
    out = []
    for i, e in enumerate(mix):
        d = detector.feed(i * STEP, e, current=B if i >= 6 else A)
        if d:
            out.append(d.reason)
    assert out == [Reason.START, Reason.CHANGE]


def test_anchored_on_the_pooled_clip_the_same_transition_fires_twice():
    # What the anchor buys: a reference taken mid-transition is left behind by the rest of it.
    detector = DriftDetector(config(threshold=0.2, cooldown_s=1.0))
    mix = [A] * 6 + [(1 - w) * A + w * B for w in (0.3, 0.45, 0.6, 0.75, 0.9)] + [B] * 10
    reasons = [d.reason for i, e in enumerate(mix) if (d := detector.feed(i * STEP, e, current=e))]
    assert reasons.count(Reason.CHANGE) >= 2


def test_oscillation_around_the_threshold_is_held_off_by_cooldown():
    near = [A, 0.55 * A + 0.45 * B] * 20  # drift alternates around the threshold every sample
    detector = DriftDetector(config(threshold=0.08, cooldown_s=4.0))
    times = [t for t, _ in fires(detector, near)]
    assert all(b - a >= 4.0 for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("smoothing", list(Smoothing))
def test_every_smoothing_mode_detects_a_step_within_two_seconds(smoothing):
    got = fires(DriftDetector(config(smoothing=smoothing, smoothing_window=3)), [A] * 10 + [C] * 10)
    assert got[0] == (0.0, Reason.START) and len(got) == 2
    assert 5.0 <= got[1][0] <= 7.0


def test_a_decision_records_why_it_fired():
    detector = DriftDetector(config())
    detector.feed(0.0, A)
    d = detector.feed(1.0, B)
    assert d.reason is Reason.CHANGE and d.threshold == 0.3
    assert d.drift == pytest.approx(1 - float(A @ B), abs=1e-5)


@pytest.mark.parametrize(
    "bad", [dict(threshold=0.0), dict(debounce=0), dict(cooldown_s=-1), dict(smoothing_window=0), dict(heartbeat_s=1.0, cooldown_s=2.0),
            dict(smoothing_window=10**6), dict(debounce=10**6), dict(cooldown_s=1e9), dict(heartbeat_s=1e9), dict(adaptive_window=10**9)]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DriftConfig(**bad)


# --- hysteresis, adaptive threshold, robustness -------------------------------------------------


def wobble(base, n, sigma, seed=2):
    """Unit vectors around ``base`` with Gaussian noise: a static scene seen by a noisy model."""
    return [v / np.linalg.norm(v) for v in noisy(base, n, sigma, seed)]


def test_noise_wobbling_around_the_threshold_fires_once_with_hysteresis_and_repeatedly_without():
    # After a cut to a noisy scene, drift to the (noisy) reference wobbles around the threshold.
    seq = [A] * 10 + wobble(B, 60, sigma=0.08)
    drifts = [1 - float(seq[10] @ b) for b in seq[11:]]
    assert min(drifts) < 0.15 < max(drifts)  # the wobble really crosses the threshold
    with_band = fires(DriftDetector(config(threshold=0.15)), seq)
    no_band = fires(DriftDetector(config(threshold=0.15, exit_threshold=0.15)), seq)
    assert [r for _, r in with_band] == [Reason.START, Reason.CHANGE]
    assert [r for _, r in no_band].count(Reason.CHANGE) >= 3


def test_the_detector_rearms_when_drift_falls_below_the_exit_threshold():
    detector = DriftDetector(config())
    got = fires(detector, [A] * 4 + [B] * 4 + [C] * 4)
    assert [r for _, r in got] == [Reason.START, Reason.CHANGE, Reason.CHANGE]
    assert detector.state.value == "armed" and detector.exit_threshold == pytest.approx(0.15)


def test_a_second_cut_during_settling_fires_once_the_stream_is_steady_elsewhere():
    # A → B fires with the reference on a mid-transition mix; the stream never comes back below
    # the exit threshold of that reference, but it is steady on B (between exit and enter: no
    # caption), so the steady rule re-arms and the cut to C fires.
    mid = (A + B) / np.linalg.norm(A + B)
    detector = DriftDetector(config(debounce=2, threshold=0.4))
    out = []
    seq = [A] * 6 + [B] * 4 + [C] * 10
    for i, e in enumerate(seq):
        d = detector.feed(i * STEP, e, current=mid if 6 <= i < 10 else None)
        if d:
            out.append((i * STEP, d.reason))
    assert out == [(0.0, Reason.START), (3.5, Reason.CHANGE), (5.5, Reason.CHANGE)]


def test_adaptive_threshold_rises_on_a_noisy_source_and_never_fires_on_its_noise():
    seq = wobble(A, 200, sigma=0.06)
    fixed = fires(DriftDetector(config(threshold=0.1, exit_threshold=0.1)), seq)
    detector = DriftDetector(config(threshold=0.1, adaptive=True, adaptive_warmup=20))
    adaptive = fires(detector, seq)
    assert len(fixed) > 5
    assert adaptive[0] == (0.0, Reason.START)
    assert all(t < 20 * STEP for t, _ in adaptive)  # once learnt (20 samples), the noise never fires
    assert detector.enter_threshold > 0.15


def test_adaptive_threshold_falls_on_a_quiet_source_and_catches_a_small_change():
    small = A + 0.5 * B  # drift to A about 0.1: below the fixed threshold of 0.3
    seq = wobble(A, 40, sigma=0.01) + wobble(small / np.linalg.norm(small), 20, sigma=0.01, seed=5)
    assert [r for _, r in fires(DriftDetector(config()), seq)] == [Reason.START]
    detector = DriftDetector(config(adaptive=True, adaptive_min=0.03))
    got = fires(detector, seq)
    assert [r for _, r in got] == [Reason.START, Reason.CHANGE] and 20.0 <= got[1][0] <= 21.0
    assert got and detector.enter_threshold < 0.1


def test_while_the_adaptive_mode_learns_the_fixed_threshold_applies():
    # B arrives while the detector is still learning the source (10 samples = 5 s).
    got = fires(DriftDetector(config(adaptive=True, adaptive_warmup=10)), [A] * 4 + [B] * 20)
    assert got == [(0.0, Reason.START), (2.0, Reason.CHANGE)]


def test_a_slow_ramp_below_the_threshold_per_cooldown_never_fires():
    # Exposure ramps move a good embedding a little and slowly; the reference stays put, so a
    # ramp fires only if its total drift reaches the threshold.
    ramp = [(1 - w) * A + w * (A + 0.3 * B) for w in np.linspace(0, 1, 60)]
    assert fires(DriftDetector(config()), ramp) == [(0.0, Reason.START)]


def test_a_repeated_clip_never_fires():
    clip = wobble(A, 8, sigma=0.03)
    assert fires(DriftDetector(config(smoothing=Smoothing.EMA, smoothing_window=3)), clip * 10) == [(0.0, Reason.START)]


def test_broken_samples_are_skipped_and_time_must_not_go_backwards():
    detector = DriftDetector(config())
    assert detector.feed(0.0, A).reason is Reason.START
    assert detector.feed(0.5, np.full(DIM, np.nan)) is None
    assert detector.feed(1.0, np.zeros(DIM)) is None
    assert detector.skipped == 2
    assert detector.feed(1.5, B).reason is Reason.CHANGE
    with pytest.raises(ValueError):
        detector.feed(1.0, A)


def test_a_decision_records_the_adaptive_threshold_in_effect():
    detector = DriftDetector(config(adaptive=True, adaptive_warmup=5, adaptive_min=0.05))
    decisions = [d for i, e in enumerate(wobble(A, 20, 0.01) + [B] * 4) if (d := detector.feed(i * STEP, e))]
    assert decisions[-1].reason is Reason.CHANGE
    assert decisions[-1].threshold == pytest.approx(0.05) and decisions[-1].drift >= decisions[-1].threshold


@pytest.mark.parametrize(
    "bad",
    [dict(exit_threshold=0.5, threshold=0.3), dict(exit_threshold=0.0), dict(adaptive_window=1),
     dict(adaptive_warmup=500), dict(adaptive_k=0.0), dict(adaptive_min=0.6, adaptive_max=0.5)],
)
def test_bad_hysteresis_and_adaptive_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DriftConfig(**bad)


def test_the_adaptive_range_is_in_the_units_of_the_statistic_unless_given():
    assert (DriftConfig().adaptive_min, DriftConfig().adaptive_max) == (1.0, 4.0)  # memory and segment alike
    cosine = DriftConfig(statistic="cosine")
    assert (cosine.adaptive_min, cosine.adaptive_max) == (0.08, 0.5)
    assert DriftConfig(adaptive_min=0.5, adaptive_max=2.0).adaptive_min == 0.5
    with pytest.raises(ValueError, match="adaptive_max"):
        DriftConfig(statistic="cosine", adaptive_max=3.0)  # beyond what 1 - cos can reach
