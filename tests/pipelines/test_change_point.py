"""Where the newest scene of a clip begins: a clear cut is found, anything else keeps the whole window."""

import numpy as np

from pipelines.core.change_point import newest_segment


def _steady(rng, centre: np.ndarray, n: int, noise: float = 0.05) -> np.ndarray:
    return centre + noise * rng.standard_normal((n, len(centre)))


def test_a_cut_between_two_steady_shots_is_found_where_it_is():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    for old in range(1, 8):
        frames = np.vstack([_steady(rng, a, old), _steady(rng, b, 8 - old)])  # (8, 64)
        assert newest_segment(frames) == old


def test_one_steady_shot_has_no_boundary():
    rng = np.random.default_rng(1)
    centre = rng.standard_normal(64)
    for seed in range(20):
        frames = _steady(np.random.default_rng(seed), centre, 8, noise=0.3)
        assert newest_segment(frames) == 0


def test_a_busy_clip_without_one_clear_cut_has_no_boundary():
    # Eight unrelated shots of one frame each (a fast montage): no split separates them.
    rng = np.random.default_rng(2)
    assert newest_segment(rng.standard_normal((8, 64))) == 0


def test_a_single_frame_or_none_has_no_boundary():
    assert newest_segment(np.ones((1, 4))) == 0
    assert newest_segment(np.zeros((0, 4))) == 0
