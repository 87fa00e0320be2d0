"""Live sources, one connection each, against a real RTSP server and a real HTTP server."""

import functools
import http.server
import math
import threading
import time

import pytest

from rtsp_kit import FAST
from streamer.capture.capture_config import RtspTransport
from streamer.capture.live import MediaClock, StreamSource, WebcamSource
from streamer.capture.frames import SourceError
from testlimits import TIMEOUT_S

pytestmark = pytest.mark.timeout(TIMEOUT_S)


def stream(url, **kw):
    settings = dict(
        sample_fps=5.0, max_side=160, open_timeout_s=FAST.open_timeout_s, probe_s=FAST.probe_s,
        read_timeout_s=FAST.read_timeout_s, stall_timeout_s=FAST.stall_timeout_s,
    )  # fmt: skip
    return StreamSource(url, "cam0", **{**settings, **kw})


def take(source, n):
    frames = []
    try:
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == n:
                break
    finally:
        source.close()
    return frames


@pytest.mark.parametrize("transport", [RtspTransport.TCP, RtspTransport.UDP])
def test_rtsp_frames_are_sampled_timestamped_and_scaled(rtsp_server, transport):
    source = stream(rtsp_server.url, transport=transport)
    source.open()
    before = time.time()
    frames = take(source, 8)
    pts = [f.pts for f in frames]
    assert pts[0] == 0.0 and all(b > a for a, b in zip(pts, pts[1:]))
    # 15 fps sampled at 5 fps: every third frame, 0.2 s of media time apart (UDP may lose one).
    if transport is RtspTransport.TCP:
        assert [f.index for f in frames] == [0, 3, 6, 9, 12, 15, 18, 21]
        assert pts[-1] == pytest.approx(1.4, abs=0.01)
    assert all(0.19 < b - a < 0.5 for a, b in zip(pts, pts[1:]))
    assert all(f.image.shape == (120, 160, 3) and f.source == "cam0" for f in frames)
    walls = [f.wall_time for f in frames]
    assert before - 1 <= walls[0] and walls == sorted(walls) and walls[-1] <= time.time()


def test_open_errors_are_one_line_and_name_the_url(rtsp_server, tmp_path):
    port = rtsp_server.port
    rtsp_server.stop()
    with pytest.raises(SourceError) as info:
        stream(f"rtsp://127.0.0.1:{port}/cam").open()
    assert str(info.value) == f"cannot open rtsp://127.0.0.1:{port}/cam: connection refused"
    rtsp_server.start()
    with pytest.raises(SourceError) as info:
        stream(f"rtsp://admin:hunter2@127.0.0.1:{port}/nope").open()
    assert str(info.value) == f"cannot open rtsp://admin:***@127.0.0.1:{port}/nope: server returned 404 not found"


def test_a_silent_server_fails_the_read_at_the_timeout_and_says_how_long(rtsp_server):
    source = stream(rtsp_server.url, read_timeout_s=2.0)
    source.open()
    frames = source.frames()
    next(frames)
    rtsp_server.pause()  # connection stays open, no more data: a stalled camera
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"^rtsp://127\.0\.0\.1:\d+/cam: no data for 2 s$"):
        for _ in frames:
            pass
    assert time.monotonic() - start < 2.0 + 1.0, "detected at the first read timeout, not the second"
    source.close()


def test_http_stream_plays_to_its_end(live_video):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(live_video.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        source = stream(f"http://127.0.0.1:{httpd.server_port}/{live_video.name}", sample_fps=2.0)
        frames = take(source, 1000)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(frames) == 20  # 10 s at 2 fps, then the stream simply ends
    assert frames[-1].pts == pytest.approx(143 / 15)  # first frame at or after 9.5 s


def test_webcam_path_reads_a_stream_through_opencv(rtsp_server):
    source = WebcamSource(rtsp_server.url, "cam0", sample_fps=5.0, max_side=160, read_timeout_s=2.0)
    source.open()
    frames = take(source, 5)
    pts = [f.pts for f in frames]
    slots = [math.floor(t * 5.0 + 1e-6) for t in pts]  # sampled on the capture clock: one frame per 0.2 s slot
    assert pts[0] == 0.0 and all(a < b for a, b in zip(slots, slots[1:])), pts
    assert frames[0].image.shape == (120, 160, 3)
    # RGB, not OpenCV's BGR: the same frame decoded by PyAV has the same channel order.
    reference = take(_opened(stream(rtsp_server.url)), 1)[0].image.astype(int)
    assert abs(frames[0].image.astype(int).mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() < 8


def test_webcam_errors_name_the_device(live_video):
    with pytest.raises(SourceError, match=r"^cannot open webcam 63: no such device or it is busy$"):
        WebcamSource(63, "cam0").open()
    source = WebcamSource(str(live_video), "cam0", sample_fps=0)
    source.open()
    with pytest.raises(SourceError, match=r"live\.mp4: no frame \(unplugged, busy, stalled or ended\)$"):
        assert len(list(source.frames())) == 150
    source.close()


def _opened(source):
    source.open()
    return source


def test_media_clock_starts_at_zero_and_never_goes_back():
    clock = MediaClock(period=0.1, max_jump=5.0)
    stamps = [1000.0, 1000.1, None, 1000.3, 999.0, 999.1, 5000.0, 5000.1]
    assert [round(clock.pts(s), 6) for s in stamps] == [
        0.0, 0.1, 0.2, 0.3,  # a missing stamp takes one period
        0.4, 0.5,  # the camera clock went back: re-anchored, spacing kept
        0.6, 0.7,  # a jump of an hour inside one connection: re-anchored too
    ]  # fmt: skip
    assert MediaClock(period=0.1).pts(None) == 0.0
