"""Reference strategies: uniform decoding and the offline Ward segmentation, on synthetic streams."""

import numpy as np
import pytest

from pipelines.bench.reference import smooth_sequence, uniform_picks, ward_picks, ward_segments

rng = np.random.default_rng(0)


def scenes(lengths, dim=16, noise=0.05, seed=0):
    r = np.random.default_rng(seed)
    parts = [r.normal(size=dim) + r.normal(scale=noise, size=(n, dim)) for n in lengths]
    return np.concatenate(parts).astype(np.float32)


def test_uniform_decodes_the_first_clip_then_one_per_period():
    times = np.arange(1, 41) * 0.5  # clips every 0.5 s, 0.5 … 20 s
    one = uniform_picks(times, 1.0)
    assert [p.t for p in one] == [0.5 + k for k in range(20)]
    assert not one[0].boundary and all(p.boundary for p in one[1:])
    assert len(uniform_picks(times, 0.5)) == 10
    with pytest.raises(ValueError):
        uniform_picks(times, 0.0)


def test_uniform_keeps_its_clock_across_a_gap_in_the_stream():
    # The schedule is a grid from the first clip (0.5, 1.5, 2.5 …): after a gap the first clip
    # past a missed tick decodes, then the grid goes on.
    times = np.array([0.5, 1.0, 1.5, 6.0, 6.5, 7.0, 7.5])
    assert [p.t for p in uniform_picks(times, 1.0)] == [0.5, 1.5, 6.0, 6.5, 7.5]


def test_ward_finds_the_scene_boundaries_of_a_piecewise_stream():
    x = scenes([20, 7, 30, 12])
    assert ward_segments(x, 4) == [(0, 20), (20, 27), (27, 57), (57, 69)]


def test_ward_is_temporally_constrained_a_returning_scene_is_its_own_segment():
    r = np.random.default_rng(3)
    a, b = r.normal(size=(2, 8))
    x = np.array([a] * 10 + [b] * 10 + [a] * 10, dtype=np.float32)
    assert ward_segments(x, 3) == [(0, 10), (10, 20), (20, 30)]


def test_ward_picks_decode_each_segment_at_its_midpoint_and_claim_its_start():
    x = scenes([10, 10])
    times = np.arange(1, 21) * 0.5
    picks, segments = ward_picks(times, x, 2, smooth_window=1)
    assert segments == [(0, 10), (10, 20)]
    assert [p.index for p in picks] == [4, 14]
    assert [(p.t, p.boundary) for p in picks] == [(0.5, False), (5.5, True)]


def test_ward_edge_cases():
    assert ward_segments(np.zeros((0, 4)), 3) == []
    assert ward_segments(np.ones((3, 4)), 10) == [(0, 1), (1, 2), (2, 3)]
    assert ward_segments(np.ones((5, 4)), 1) == [(0, 5)]


def test_smoothing_is_a_centred_moving_average():
    x = np.arange(10, dtype=np.float32)[:, None]
    s = smooth_sequence(x, 3)
    assert s[5, 0] == pytest.approx(5.0) and s[0, 0] == pytest.approx(0.5) and s[9, 0] == pytest.approx(8.5)
    assert np.array_equal(smooth_sequence(x, 1), x)
