"""File sources decoded by PyAV: sampled, timestamped in media seconds, damage reported by name."""

import dataclasses
import math

import numpy as np
import pytest

from streamer.capture.thread import CaptureThread
from streamer.worker import OverflowPolicy
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.frames import SourceError
from streamer.capture.sources import RateSampler, VideoFileSource
from videokit import Shot, write_video


@pytest.fixture(scope="module")
def short_video(tmp_path_factory, photos):
    path = tmp_path_factory.mktemp("src") / "short.mp4"
    truth = write_video(path, [Shot(photos["chelsea"], 2.0), Shot(photos["coffee"], 2.0)], size=(320, 180), fps=25)
    return path, truth


def test_frames_are_sampled_at_the_configured_rate_with_media_timestamps(short_video):
    path, truth = short_video
    frames = list(VideoFileSource(path, "clip", sample_fps=4.0).frames())
    # The first 25 fps frame in each quarter second: 0.00, 0.28, 0.52, 0.76, 1.00, …
    expected_index = [math.ceil(k * 25 / 4) for k in range(16)]
    assert [f.index for f in frames] == expected_index
    assert [f.pts for f in frames] == pytest.approx([i / 25 for i in expected_index], abs=1e-6)
    assert frames[0].image.shape == (180, 320, 3) and frames[0].image.dtype == np.uint8
    assert all(f.source == "clip" for f in frames)


def test_large_frames_are_scaled_to_max_side(short_video):
    path, _ = short_video
    frame = next(VideoFileSource(path, sample_fps=1.0, max_side=160).frames())
    assert frame.image.shape == (90, 160, 3)


def test_the_image_is_rgb(tmp_path):
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 220
    path = tmp_path / "red.mp4"
    write_video(path, [Shot(red, 0.5, zoom=(1.0, 1.0))], size=(160, 120), fps=10)
    r, g, b = next(VideoFileSource(path).frames()).image.reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 40 and b < 40


def test_rate_sampler_keeps_the_first_frame_of_each_slot():
    sampler = RateSampler(2.0)
    kept = [t for t in [0.0, 0.1, 0.45, 0.5, 0.6, 1.2, 1.25, 3.0] if sampler.keep(t)]
    assert kept == [0.0, 0.5, 1.2, 3.0]
    assert all(RateSampler(0).keep(t) for t in [0.0, 0.0, 0.1])


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SourceError, match=r"^.*missing\.mp4: no such file$"):
        VideoFileSource(tmp_path / "missing.mp4").open()


def test_a_file_that_is_not_a_video_is_named(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 50)
    with pytest.raises(SourceError, match=r"notes\.mp4: not a readable video \(invalid data"):
        VideoFileSource(path).open()


def test_a_truncated_video_yields_what_precedes_the_damage_then_names_it(short_video, tmp_path):
    path, _ = short_video
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    got = []
    with pytest.raises(SourceError, match=r"cut\.mp4: (damaged or truncated video at \d+\.\d\d s|truncated video)"):
        for frame in VideoFileSource(cut).frames():
            got.append(frame)
    assert 4 <= len(got) < 16


def test_capture_thread_delivers_every_frame_in_order_then_one_end_marker(short_video):
    path, _ = short_video
    capture = CaptureThread(VideoFileSource(path, "c"), buffer_size=2, policy=OverflowPolicy.WAIT).start()
    items = list(capture.frames())
    capture.stop()
    assert all(isinstance(i, Frame) for i in items[:-1]) and len(items) == 17
    assert items[-1] == EndOfStream("c", error=None, dropped=0)
    pts = [f.pts for f in items[:-1]]
    assert pts == sorted(pts)


def test_drop_oldest_keeps_the_newest_frames_and_counts_the_rest(short_video):
    path, _ = short_video
    capture = CaptureThread(VideoFileSource(path, "c"), buffer_size=3, policy=OverflowPolicy.DROP_OLDEST).start()
    capture._thread.join(30)  # a reader that never reads until the source has ended
    items = list(capture.frames())
    end = items[-1]
    assert isinstance(end, EndOfStream) and end.error is None
    frames = items[:-1]
    assert end.dropped == 16 - len(frames) >= 13
    assert frames[-1].pts == pytest.approx(3.76)  # the last sampled frame survives


def test_capture_thread_reports_a_source_error_on_the_end_marker(tmp_path):
    capture = CaptureThread(VideoFileSource(tmp_path / "gone.mp4", "gone")).start()
    items = list(capture.frames())
    assert items == [EndOfStream("gone", error=f"{tmp_path / 'gone.mp4'}: no such file", dropped=0)]


def test_stop_ends_a_producer_blocked_on_a_full_buffer(short_video):
    path, _ = short_video
    capture = CaptureThread(VideoFileSource(path), buffer_size=1).start()
    capture.stop(timeout=2.0)
    assert not capture._thread.is_alive()


def test_a_stream_without_timestamps_is_timed_by_its_frame_rate(tmp_path, photos):
    path = tmp_path / "raw.h264"  # an elementary stream: no container, no PTS on any frame
    write_video(path, [Shot(photos["chelsea"], 2.0)], size=(320, 180), fps=25)
    frames = list(VideoFileSource(path, sample_fps=4.0).frames())
    assert [f.index for f in frames] == [math.ceil(k * 25 / 4) for k in range(8)]
    assert [f.pts for f in frames] == pytest.approx([f.index / 25 for f in frames], abs=1e-6)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_a_video_stored_sideways_is_turned_upright_by_its_display_matrix(tmp_path, degrees):
    import av

    upright = np.zeros((120, 160, 3), np.uint8)
    upright[:60, :, 0] = 230  # red top half, blue bottom-left quarter: every turn looks different
    upright[60:, :80, 2] = 230
    stored = np.ascontiguousarray(np.rot90(upright, -degrees // 90))  # what the phone wrote
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        stream.set_display_rotation(degrees)  # counter-clockwise turn that displays it upright
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    image = next(VideoFileSource(path).frames()).image
    assert image.shape == upright.shape
    assert np.abs(image.astype(int) - upright).mean() < 12


class _ResumedAt(VideoFileSource):
    """A file whose third frame is marked as the first after a reconnect (as
    :class:`~streamer.capture.reconnect.ReconnectingSource` marks a live source's)."""

    def frames(self):
        for k, frame in enumerate(super().frames()):
            yield dataclasses.replace(frame, resumed=k == 2)


def test_drop_oldest_keeps_the_mark_of_a_resumed_frame_it_drops(short_video):
    path, _ = short_video
    capture = CaptureThread(_ResumedAt(path, "c"), buffer_size=3, policy=OverflowPolicy.DROP_OLDEST).start()
    capture._thread.join(30)  # the marked frame and many after it are dropped
    frames = [i for i in capture.frames() if isinstance(i, Frame)]
    assert frames[0].pts > 1.0  # the marked third frame itself is gone
    assert sum(f.resumed for f in frames) == 1  # a later frame carries the gap in coverage
