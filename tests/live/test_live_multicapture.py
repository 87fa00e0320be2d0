"""Several sources in one process: fan-in, per-source status and counters, drop policies, stopping."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from netkit import free_port
from rtsp_kit import FAST
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.multicapture import CaptureCounters, MultiCapture
from streamer.capture.source_spec import parse_sources
from streamer.feed.events import status_event
from testlimits import TIMEOUT_S, wait_for

pytestmark = pytest.mark.timeout(TIMEOUT_S * 2)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    """A 2 s, 160×120, 15 fps video: 30 frames."""
    import skimage.data

    from videokit import Shot, write_video

    path = tmp_path_factory.mktemp("short") / "short.mp4"
    write_video(path, [Shot(skimage.data.rocket(), 2.0)], size=(160, 120), fps=15)
    return path


def test_two_cameras_and_a_file_each_keep_their_own_stream(rtsp_factory, short_video):
    cam_a, cam_b = rtsp_factory("/a"), rtsp_factory("/b")
    specs = parse_sources([f"north={cam_a.url}", f"south={cam_b.url}", str(short_video)])
    statuses = defaultdict(list)
    frames = defaultdict(list)
    ends = {}
    on_status = lambda s: statuses[s.source].append(status_event(s))  # noqa: E731
    with MultiCapture(specs, FAST, sample_fps=5.0, max_side=96, on_status=on_status) as cap:
        assert cap.source_ids == ["north", "south", "short"]

        def pump():
            for item in cap.batch(timeout=0.1):
                (
                    ends.__setitem__(item.source, item)
                    if isinstance(item, EndOfStream)
                    else frames[item.source].append(item)
                )
            return "short" in ends and len(frames["north"]) >= 8 and len(frames["south"]) >= 8

        wait_for(pump, "frames from both cameras and the whole file", TIMEOUT_S / 3)
        cam_b.stop(hard=True)  # one camera fails; the others must not notice
        north_before = len(frames["north"])
        wait_for(
            lambda: pump() and any(s["state"] == "reconnecting" for s in statuses["south"]),
            "south retrying",
            TIMEOUT_S / 4,
        )
        wait_for(lambda: pump() and len(frames["north"]) >= north_before + 5, "north carrying on", TIMEOUT_S / 4)
        counters = cap.counters()
        assert cap.active == ["north", "south"]  # the file has ended, the cameras never do
    assert len(frames["short"]) == 10 and ends["short"].error is None  # 2 s at 5 fps, nothing dropped
    for sid in ("north", "south", "short"):
        pts = [f.pts for f in frames[sid]]
        assert all(b > a for a, b in zip(pts, pts[1:])) and {f.source for f in frames[sid]} == {sid}
    assert [s["state"] for s in statuses["north"]] == ["connected", "ended"]  # ended: stopped with the rest
    assert [s["state"] for s in statuses["south"]][:3] == ["connected", "disconnected", "reconnecting"]
    assert [s["state"] for s in statuses["short"]] == ["connected", "ended"]
    assert counters["short"] == CaptureCounters(frames=10, dropped=0, stale=0, connections=1, captured=10)
    assert counters["north"].connections == 1 and counters["north"].frames == len(frames["north"])
    # counted before each `reconnecting` is sent: at least the one waited for, at most those sent by the end
    assert 1 <= counters["south"].reconnects <= sum(s["state"] == "reconnecting" for s in statuses["south"])
    assert counters["north"].reconnects == 0


def test_batch_takes_at_most_one_ready_item_per_source(short_video):
    specs = parse_sources([f"a={short_video}", f"b={short_video}"])
    with MultiCapture(specs, CaptureConfig(buffer_size=4), sample_fps=0, max_side=64) as cap:
        time.sleep(0.5)  # both buffers fill
        batch = cap.batch(timeout=TIMEOUT_S / 6)
        seen = [batch]
        while cap.active:
            seen.append(cap.batch(timeout=TIMEOUT_S / 6))
    assert [f.source for f in batch] == ["a", "b"]  # both were ready: one each, in turn
    items = [i for b in seen for i in b]
    assert all(len({i.source for i in b}) == len(b) for b in seen)
    for sid in "ab":
        mine = [i for i in items if i.source == sid]
        assert len(mine) == 31 and isinstance(mine[-1], EndOfStream)  # 30 frames then the marker


@pytest.mark.parametrize("realtime", [False, True])
def test_a_slow_reader_loses_frames_only_when_paced_like_a_live_source(short_video, realtime):
    config = CaptureConfig(buffer_size=2, realtime=realtime, stale_after_s=0.1)
    frames: list[Frame] = []
    with MultiCapture(parse_sources([str(short_video)]), config, sample_fps=0, max_side=64) as cap:
        for item in cap:
            if isinstance(item, Frame):
                frames.append(item)
                time.sleep(0.15)  # a pipeline slower than 15 fps
        counters = cap.counters()["short"]
    assert counters.frames == len(frames) and counters.frames + counters.dropped == 30
    if realtime:
        assert counters.dropped >= 10 and counters.stale > 0
        assert max(b.index - a.index for a, b in zip(frames, frames[1:])) > 1  # gaps: newest frames won
    else:
        assert counters.dropped == 0 and counters.stale == 0 and [f.index for f in frames] == list(range(30))


def test_stop_ends_every_thread_within_two_seconds(rtsp_server, short_video):
    threads = threading.active_count()
    dead = f"rtsp://127.0.0.1:{free_port()}/cam"  # in backoff when stopped
    specs = parse_sources([rtsp_server.url, dead, str(short_video)])
    config = dataclasses.replace(FAST, backoff_initial_s=5.0, backoff_max_s=5.0, buffer_size=1)
    statuses = []
    cap = MultiCapture(specs, config, sample_fps=5.0, max_side=64, on_status=lambda s: statuses.append(status_event(s))).start()
    wait_for(
        lambda: cap.counters()["cam0"].connections and any(s["state"] == "reconnecting" for s in statuses),
        "start",
        TIMEOUT_S / 4,
    )
    start = time.monotonic()
    cap.stop()
    assert time.monotonic() - start < 2.0
    assert threading.active_count() == threads
    assert {s["source"] for s in statuses if s["state"] == "ended"} == {"cam0", "cam1", "short"}


def test_overrides_must_name_configured_sources(short_video):
    config = CaptureConfig.from_mapping({"sources": {"cam7": {"buffer_size": 2}}})
    with pytest.raises(ValueError, match=r"capture.sources: no source with id 'cam7' \(sources: short\)"):
        MultiCapture(parse_sources([str(short_video)]), config)


CHILD = textwrap.dedent(
    """
    import sys, threading
    from streamer.capture.capture_config import CaptureConfig
    from streamer.capture.frames import Frame
    from streamer.capture.multicapture import MultiCapture
    from streamer.capture.signals import sigterm_as_interrupt
    from streamer.capture.source_spec import parse_sources

    config = CaptureConfig(probe_s=0.5, backoff_initial_s=5, backoff_max_s=5, realtime=True)
    try:
        with sigterm_as_interrupt(), MultiCapture(parse_sources(sys.argv[1:]), config, sample_fps=5) as cap:
            for item in cap:
                if isinstance(item, Frame) and item.source == "cam0":
                    print("RUNNING", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    print("LEFT", [t.name for t in threading.enumerate() if t is not threading.main_thread()], flush=True)
    """
)


@pytest.mark.parametrize("frozen", [False, True], ids=["flowing", "frozen-camera"])
def test_sigterm_stops_a_running_process_within_two_seconds(rtsp_server, live_video, frozen):
    dead = f"rtsp://127.0.0.1:{free_port()}/cam"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, rtsp_server.url, dead, str(live_video)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert child.stdout.readline() == "RUNNING\n"
        if frozen:
            rtsp_server.pause()  # cam0's thread is now blocked in a read
            time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        start = time.monotonic()
        out, err = child.communicate(timeout=TIMEOUT_S / 4)
        elapsed = time.monotonic() - start
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert elapsed < 2.0
    left = out.splitlines()[-2:]
    # A thread blocked in a read cannot be interrupted; it is a daemon and dies with the process.
    assert left == ["INTERRUPTED", "LEFT ['capture-cam0']" if frozen else "LEFT []"]
