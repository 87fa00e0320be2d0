"""The drift detector's rules, one by one, on synthetic embedding sequences (0.5 s apart)."""

import numpy as np
import pytest

from pipelines.drift import DriftConfig, DriftDetector, Reason, Smoothing

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
    return DriftConfig(**{"smoothing": Smoothing.NONE, "threshold": 0.3, "debounce": 1, "cooldown_s": 1.0, "heartbeat_s": 0.0, **kw})


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
    "bad", [dict(threshold=0.0), dict(debounce=0), dict(cooldown_s=-1), dict(smoothing_window=0), dict(heartbeat_s=1.0, cooldown_s=2.0)]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DriftConfig(**bad)
