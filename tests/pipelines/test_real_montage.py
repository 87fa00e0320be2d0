"""Drift on real footage right after a busy scene (``tests/data/real_montage_excerpt.mp4``, see
its ATTRIBUTION.md): a fast-cut cycling montage for 14 s, then a join to a still view of a tree.

The default detector must fire at the join, once, within 2 s, and stay quiet through the
montage's own cuts (about one a second).
"""

import json
from pathlib import Path

import numpy as np

from pipelines.core.clips import ClipConfig
from pipelines.core.drift import DriftConfig
from pipelines.core.selective import SelectivePipeline
from streamer.capture.sources import VideoFileSource

EXCERPT = Path(__file__).parents[1] / "data" / "real_montage_excerpt.mp4"
JOIN_S = json.loads(EXCERPT.with_suffix(".gt.json").read_text())["boundaries"][0]


def test_the_join_out_of_the_montage_fires_once_and_its_cuts_do_not(lite_models):
    pipeline = SelectivePipeline("montage", lite_models, ClipConfig(), DriftConfig())
    captions = [r.caption for f in VideoFileSource(EXCERPT).frames() for r in pipeline.feed(f) if r.caption]
    changes = [c.t for c in captions if c.reason == "change"]
    assert len(changes) == 1 and JOIN_S <= changes[0] <= JOIN_S + 2.0, changes


def test_the_montage_really_cuts_often():
    # The quiet montage means something only if it is busy: before the join, frame-to-frame
    # jumps far above the typical step (its shots move too), the cuts played forward then back.
    frames = [f.image.astype(np.float32) for f in VideoFileSource(EXCERPT, sample_fps=0).frames() if f.pts < JOIN_S - 0.2]
    steps = np.array([float(np.mean(np.abs(b - a))) for a, b in zip(frames, frames[1:])])
    cuts = int(np.sum(steps > 4 * np.median(steps)))
    assert cuts >= 6, cuts
