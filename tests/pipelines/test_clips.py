"""Clip windows: which frames each clip holds, and when it closes."""

import numpy as np
import pytest

from pipelines.core.clips import ClipAssembler, ClipConfig
from streamer.capture.frames import Frame


def frames(times):
    return [Frame("s", i, t, 0.0, np.zeros((2, 2, 3), np.uint8)) for i, t in enumerate(times)]


def run(config, times):
    assembler = ClipAssembler(config)
    return [clip for f in frames(times) for clip in assembler.push(f)]


def test_clips_advance_by_the_stride_and_pool_the_window():
    clips = run(ClipConfig(window_s=2.0, stride_s=0.5), [i * 0.25 for i in range(17)])  # 0 … 4.0 s at 4 fps
    assert [c.t_end for c in clips] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    last = clips[-1]
    assert (last.t_start, last.t_end) == (2.0, 4.0)
    assert [f.pts for f in last.frames] == [2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75]
    assert len(clips[0].frames) == 2  # the first clips fill up as the stream starts


def test_a_clip_closes_only_when_a_later_frame_arrives():
    assembler = ClipAssembler(ClipConfig())
    closed = [assembler.push(f) for f in frames([0.0, 0.25, 0.49])]
    assert closed == [[], [], []]
    assert [c.t_end for c in assembler.push(frames([0.5])[0])] == [0.5]


def test_a_gap_skips_empty_clips_and_keeps_memory_bounded():
    times = [0.0, 0.25, 0.5, 3600.0, 3600.25, 3600.5]
    clips = run(ClipConfig(), times)
    assert [c.t_end for c in clips] == [0.5, 1.0, 1.5, 2.0, 2.5, 3600.5]
    assert [f.pts for f in clips[-1].frames] == [3600.0, 3600.25]


def test_assembler_keeps_only_what_the_next_window_needs():
    assembler = ClipAssembler(ClipConfig(window_s=1.0, stride_s=0.5))
    for f in frames([i * 0.1 for i in range(1000)]):
        assembler.push(f)
    assert len(assembler._frames) <= 11


@pytest.mark.parametrize("bad", [dict(stride_s=0), dict(window_s=0.2, stride_s=0.5), dict(caption_window_s=3.0)])
def test_bad_clip_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ClipConfig(**bad)
