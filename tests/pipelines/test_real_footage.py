"""Drift on real footage (``tests/data/real_excerpt.mp4``, see its ATTRIBUTION.md): an animated
dialogue with three shot/reverse-shot cuts, then a join to a fixed surveillance camera at 9.4 s.

The default detector must fire at the join, once, and stay quiet through the dialogue's cuts.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.core.clips import ClipConfig
from pipelines.core.drift import DriftConfig
from pipelines.core.selective import SelectivePipeline
from streamer.capture.sources import VideoFileSource

EXCERPT = Path(__file__).parents[1] / "data" / "real_excerpt.mp4"
JOIN_S = json.loads(EXCERPT.with_suffix(".gt.json").read_text())["boundaries"][0]
DIALOGUE_CUTS_S = (3.6, 5.9, 7.8)


def change_times(models, drift: DriftConfig) -> list[float]:
    pipeline = SelectivePipeline("excerpt", models, ClipConfig(), drift)
    return [r.caption.t for f in VideoFileSource(EXCERPT).frames() for r in pipeline.feed(f) if r.caption and r.caption.reason == "change"]


def test_the_join_fires_once_and_the_shot_reverse_shot_cuts_do_not(lite_models):
    got = change_times(lite_models, DriftConfig())
    assert len(got) == 1
    assert JOIN_S <= got[0] <= JOIN_S + 2.0


@pytest.mark.parametrize("cut", DIALOGUE_CUTS_S)
def test_the_excerpt_really_has_its_dialogue_cuts(cut):
    # The quiet dialogue means something only if the cuts are there: the frames on either side
    # of each cut differ far more than neighbouring frames inside a shot.
    frames = [(f.pts, f.image.astype(np.float32)) for f in VideoFileSource(EXCERPT, sample_fps=0).frames() if cut - 1.0 <= f.pts <= cut + 1.0]
    steps = [(b[0], float(np.mean(np.abs(b[1] - a[1])))) for a, b in zip(frames, frames[1:])]
    at_cut = max(d for t, d in steps if abs(t - cut) <= 0.15)
    inside = sorted(d for t, d in steps if abs(t - cut) > 0.3)
    assert at_cut > 3 * inside[len(inside) // 2]
