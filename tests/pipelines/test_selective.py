"""The selective step: each frame encoded once, one result per clip, captions only on drift."""

import dataclasses

import numpy as np

from pipelines.core.clips import ClipConfig
from pipelines.core.drift import DriftConfig
from pipelines.core.selective import SelectivePipeline
from streamer.capture.sources import VideoFileSource
from videokit import Shot, write_video


def test_each_frame_is_encoded_once_and_every_clip_yields_an_embedding(lite_models, photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 4.0), Shot(photos["rocket"], 4.0)], size=(320, 180))
    encoded = []

    def counting_encoder(images):
        encoded.append(len(images))
        return lite_models.encode_frames(images)

    models = dataclasses.replace(lite_models, encode_frames=counting_encoder)
    pipeline = SelectivePipeline("v", models, ClipConfig(), DriftConfig())
    frames = list(VideoFileSource(video).frames())
    results = [r for f in frames for r in pipeline.feed(f)]

    assert [r.t_end for r in results] == [0.5 * k for k in range(1, 16)]
    in_some_clip = [f for f in frames if f.pts < results[-1].t_end]
    assert sum(encoded) == len(in_some_clip)  # each frame once, though it sits in up to four windows
    assert max(encoded) <= 2  # only the frames new since the last clip
    assert all(r.embedding.shape == (384,) and abs(np.linalg.norm(r.embedding) - 1) < 1e-5 for r in results)
    captions = [r.caption for r in results if r.caption]
    assert [c.reason for c in captions] == ["start", "change"]
    assert 4.0 <= captions[1].t <= 6.0
    assert pipeline.stats.clips == len(results) and pipeline.stats.decodes == 2
    for r in results:  # a caption hands on the frames it describes, and only a caption
        if r.caption is None:
            assert r.caption_frames == ()
        else:
            assert r.caption_frames and all(r.caption.t_start - 1e-9 <= f.pts <= r.caption.t_end for f in r.caption_frames)
            assert r.t_end - 0.5 < r.caption_frames[-1].pts  # the newest frames


def test_dropped_frames_are_reported_on_the_next_caption(lite_models, photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["coffee"], 2.0), Shot(photos["chelsea"], 3.0)], size=(320, 180))
    pipeline = SelectivePipeline("v", lite_models, ClipConfig(), DriftConfig())
    frames = list(VideoFileSource(video).frames())
    captions = []
    for i, frame in enumerate(frames):
        captions += [r.caption for r in pipeline.feed(frame, dropped_frames=3 if i == 4 else 0) if r.caption]
    assert [c.dropped_frames for c in captions] == [0, 3]


def test_a_resumed_source_gets_a_resume_caption_on_its_first_complete_clip(lite_models, photos, tmp_path):
    # One unchanging view, then the camera is away for 30 s and comes back to the same view:
    # the drift statistic alone would stay silent; the gap in coverage itself asks for a caption.
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 8.0)], size=(320, 180))
    frames = list(VideoFileSource(video).frames())
    cut = len(frames) // 2
    back = [dataclasses.replace(f, pts=f.pts + 30.0, resumed=(i == 0)) for i, f in enumerate(frames[cut:])]
    pipeline = SelectivePipeline("v", lite_models, ClipConfig(), DriftConfig(heartbeat_s=0.0))
    results = [r for f in frames[:cut] + back for r in pipeline.feed(f)]

    captions = [r.caption for r in results if r.caption]
    assert [c.reason for c in captions] == ["start", "resume"]
    resumed_at = back[0].pts
    assert captions[1].t_end - ClipConfig().window_s >= resumed_at - 1e-9  # a complete clip after the gap
    assert captions[1].t <= resumed_at + ClipConfig().window_s + ClipConfig().stride_s
    partial = [r for r in results if resumed_at < r.t_end < resumed_at + ClipConfig().window_s]
    assert partial and not any(r.caption for r in partial)  # clips with less than a window after the gap wait
    assert pipeline.stats.decodes_by_reason["resume"] == 1


def test_a_change_caption_describes_only_the_frames_after_the_cut(lite_models, photos, tmp_path):
    # The decision comes 0.5 s after the cut, when the caption's newest second still holds the
    # shot before: the caption is decoded from the new shot's frames alone and names it.
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 6.0), Shot(photos["rocket"], 4.0)], size=(320, 180))
    pipeline = SelectivePipeline("v", lite_models, ClipConfig(), DriftConfig())
    results = [r for f in VideoFileSource(video).frames() for r in pipeline.feed(f)]
    (change,) = [r for r in results if r.caption and r.caption.reason == "change"]

    assert change.caption.t < 6.0 + ClipConfig().caption_window_s  # the newest second still holds the cat
    assert change.caption.t_start >= 6.0 - 1e-9 and all(f.pts >= 6.0 - 1e-9 for f in change.caption_frames)
    top3 = {text for text, _ in change.caption.labels[:3]}
    assert top3 & {"missile", "projectile", "space shuttle", "drilling platform"}, top3
