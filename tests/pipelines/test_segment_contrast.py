"""The scene-relative frame statistics, on synthetic frame sequences (4 frames per second, one
detector sample every 0.5 s with the two frames new since the last): ``segment``, and ``memory``
(the default: segment plus the scene's memory as a set) held to the same tests, plus steps out
of a busy scene."""

import numpy as np
import pytest

from pipelines.core.drift import DriftConfig, DriftDetector, Reason, Statistic
from pipelines.core.scene_memory import SceneMemory
from pipelines.core.segment_contrast import SegmentContrast

DIM = 64
FPS = 4
rng = np.random.default_rng(0)
A, B, C, D, E = (v / np.linalg.norm(v) for v in rng.normal(size=(5, DIM)))


def frames_around(base, n, sigma, seed):
    """``n`` unit frame vectors around ``base``: one view seen by a model with some noise."""
    r = np.random.default_rng(seed)
    x = base + r.normal(scale=sigma / np.sqrt(DIM), size=(n, DIM))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


BOTH = pytest.mark.parametrize("statistic", [Statistic.SEGMENT, Statistic.MEMORY])


def changes(frames, statistic=Statistic.SEGMENT, **settings):
    """Feed ``frames`` two at a time; return the media times of the ``change`` decisions."""
    cfg = DriftConfig(**{"statistic": statistic, "heartbeat_s": 0.0, **settings})
    detector = DriftDetector(cfg)
    out = []
    for k in range(0, len(frames) - 1, 2):
        t = (k + 2) / FPS
        d = detector.feed(t, frames[k + 1], frames=frames[k : k + 2])
        if d is not None and d.reason is Reason.CHANGE:
            out.append(t)
    return out


@BOTH
def test_a_step_between_two_views_fires_once_within_two_seconds(statistic):
    seq = np.concatenate([frames_around(A, 80, 0.2, 1), frames_around(B, 80, 0.2, 2)])  # the step at 20 s
    got = changes(seq, statistic)
    assert len(got) == 1 and 20.0 < got[0] <= 22.0


@BOTH
def test_sensor_noise_on_a_static_view_never_fires(statistic):
    assert changes(frames_around(A, 400, 0.3, 3), statistic) == []


def busy_scene(seed, seconds=60, views=None):
    """Fast cuts between four views of one place (they share most of their vector, as shots of
    one room do), each shot 0.5 to 1 s, every view once per round in a shuffled order; the
    views default to four of A."""
    views = [0.7 * A + 0.71 * v for v in (B, C, D, E)] if views is None else views
    r = np.random.default_rng(seed)
    seq = []
    while len(seq) < seconds * FPS:
        for i in r.permutation(4):
            seq += list(frames_around(views[i], int(r.integers(2, 5)), 0.2, seed * 1000 + len(seq)))
    return np.array(seq[: seconds * FPS])


@BOTH
def test_a_busy_but_stationary_scene_fires_at_most_once_a_minute_where_cosine_fires_at_its_cuts(statistic):
    minutes = [busy_scene(seed) for seed in range(10)]
    # Once the scene has shown its own variability (its first 6 s), a cut inside it rarely
    # stands out: at most one change a minute, against about 80 cuts a minute.
    segment = sum(len([t for t in changes(m, statistic) if t > 6.0]) for m in minutes)
    cosine = sum(len(changes(m, Statistic.COSINE)) for m in minutes)
    assert segment <= len(minutes)
    assert cosine >= 10 * len(minutes)


@BOTH
def test_a_change_that_fires_in_a_quiet_view_does_not_fire_in_a_busy_one(statistic):
    # The same shift towards E arrives after 30 s of one static view, and after 30 s of cuts
    # between four views every 0.75 s (every view shifted alike).
    quiet = np.concatenate([frames_around(A, 120, 0.2, 5), frames_around(A + 0.8 * E, 40, 0.2, 6)])
    views = [A, B, C, D]
    busy = np.concatenate(
        [frames_around(views[i % 4], 3, 0.2, 10 + i) for i in range(40)]
        + [frames_around(views[i % 4] + 0.8 * E, 3, 0.2, 50 + i) for i in range(14)]
    )
    got = changes(quiet, statistic)
    assert len(got) == 1 and 30.0 < got[0] <= 32.0
    assert changes(busy, statistic) == []


@BOTH
def test_a_slow_ramp_does_not_fire_a_change(statistic):
    # A view drifting slowly (light, a slow pan) over 60 s: each window is a little further on,
    # but never further than the windows before it were.
    w = np.linspace(0, 1, 240)[:, None]
    ramp = (1 - w) * A + w * (0.7 * A + 0.7 * B)
    ramp = ramp / np.linalg.norm(ramp, axis=1, keepdims=True)
    noise = frames_around(np.zeros(DIM), 240, 0.2, 9) * 0.2
    assert changes(ramp + noise, statistic) == []


def test_the_statistic_keeps_at_most_its_bounded_number_of_frames():
    stat = SegmentContrast(recent_s=2.0, spread_floor=0.15, max_segment_s=3600.0, max_frames=64)
    for k, f in enumerate(frames_around(A, 2000, 0.2, 11)):
        stat.update(k / FPS, f[None])
    assert len(stat._segment) == 64 and len(stat._recent) <= 2 * FPS + 1


def test_a_decision_names_the_statistic_value_and_the_threshold_in_effect():
    cfg = DriftConfig(statistic=Statistic.SEGMENT, heartbeat_s=0.0)
    detector = DriftDetector(cfg)
    seq = np.concatenate([frames_around(A, 40, 0.2, 12), frames_around(B, 20, 0.2, 13)])
    decisions = [d for k in range(0, len(seq) - 1, 2) if (d := detector.feed((k + 2) / FPS, seq[k + 1], frames=seq[k : k + 2]))]
    assert [d.reason for d in decisions] == [Reason.START, Reason.CHANGE]
    assert decisions[1].threshold == pytest.approx(cfg.threshold) and decisions[1].drift >= cfg.threshold


@pytest.mark.parametrize(
    "bad", [dict(recent_s=0.0), dict(spread_floor=0.0), dict(max_segment_s=1.0), dict(max_segment_frames=1), dict(threshold=500.0)]
)
def test_bad_segment_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DriftConfig(statistic=Statistic.SEGMENT, **bad)


def views_of(place, seed):
    """Four views of ``place`` (a unit vector), made as ``busy_scene``'s views of A are."""
    others = np.random.default_rng(seed).normal(size=(4, DIM))
    return [0.7 * place + 0.71 * v / np.linalg.norm(v) for v in others]


def test_a_calm_scene_after_a_busy_one_fires_once_within_two_seconds_where_segment_misses_it():
    # 20 s of fast cuts between four views of one place, then one calm view that none of them
    # showed, no further from them than they are from each other (as real scenes share much of
    # their features): the cuts kept returning to the four views; the new one stays away.
    # Measured: 30 of 30 draws (seeds 0-29) exactly right at the default threshold; at 2.0, one
    # fired inside the busy scene (its allowance, as above) 3 s before the step, which its
    # cooldown and fresh memory then missed: a false change can hide a true one.
    found = missed_by_segment = 0
    for seed in range(20):
        place, other = (v / np.linalg.norm(v) for v in np.random.default_rng(100 + seed).normal(size=(2, DIM)))
        seq = np.concatenate([busy_scene(seed, 20, views_of(place, 400 + seed)), frames_around(0.7 * place + 0.71 * other, 60, 0.2, 200 + seed)])
        got = [t for t in changes(seq, Statistic.MEMORY) if t > 6.0]
        found += len(got) == 1 and 20.0 < got[0] <= 22.0
        missed_by_segment += not [t for t in changes(seq) if 20.0 < t <= 22.0]
    assert found >= 18 and missed_by_segment >= 10  # the busy scene's scale hides it from the segment alone


def test_a_busy_scene_after_a_busy_one_elsewhere_fires_once_within_two_seconds():
    # Fast cuts in one place for 20 s, then fast cuts in another place: one change, at the step,
    # and none for the other place's own cuts afterwards.
    for seed in range(10):
        place, elsewhere = (v / np.linalg.norm(v) for v in np.random.default_rng(300 + seed).normal(size=(2, DIM)))
        seq = np.concatenate([busy_scene(seed, 20, views_of(place, 400 + seed)), busy_scene(50 + seed, 20, views_of(elsewhere, 500 + seed))])
        got = [t for t in changes(seq, Statistic.MEMORY) if t > 6.0]
        assert len(got) == 1 and 20.0 < got[0] <= 22.0, (seed, got)


def test_the_memory_keeps_at_most_its_bounded_number_of_frames_and_seconds():
    memory = SceneMemory(memory_s=5.0, max_frames=64)
    for k, f in enumerate(frames_around(A, 400, 0.2, 11)):
        memory.update(k / FPS, f[None])
    assert len(memory._times) <= (5.0 + 2.0) * FPS + 1 and memory._gram.shape == (len(memory._times),) * 2
    small = SceneMemory(memory_s=600.0, max_frames=64)
    for k, f in enumerate(frames_around(A, 400, 0.2, 12)):
        small.update(k / FPS, f[None])
    assert len(small._times) == 64


@pytest.mark.parametrize("keep_seen", [False, True])
def test_a_decision_forgets_the_look_before_it_unless_the_memory_keeps_what_it_has_seen(keep_seen):
    # 8 s of A, a decision 1 s into B, 7 s more of B, then back to A: 2 s into the return (the
    # newest second all A, the memory's gap all B) it is as novel as a new scene by default
    # (the decision forgot A), and with keep_seen a look the memory has seen.
    memory = DriftDetector(DriftConfig(memory_keep_seen=keep_seen))._contrast.memory  # drift.memory_keep_seen
    seq = [*frames_around(A, 32, 0.2, 21), *frames_around(B, 32, 0.2, 22), *frames_around(A, 12, 0.2, 23)]
    novelty = []
    for k, f in enumerate(seq):
        novelty.append(memory.update((k + 1) / FPS, f[None]))
        if k == 32 + FPS - 1:
            memory.rebase()
    inside_b, back_to_a = max(novelty[32 + 6 * FPS : 64]), novelty[64 + 2 * FPS - 1]
    assert inside_b < 1.0
    assert (back_to_a < 1.0) if keep_seen else (back_to_a > 3.0), (inside_b, back_to_a)
