"""A dynamic MultiCapture (a worker's): starts with no source, gains and loses sources while it runs."""

from __future__ import annotations

import time

import pytest

from streamer.capture.capture_config import CaptureConfig
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.multicapture import MultiCapture
from streamer.capture.source_spec import parse_sources
from streamer.capture.status import SourceState
from testlimits import TIMEOUT_S


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 4 s, 160×96, 10 fps video."""
    import skimage.data

    from videokit import Shot, write_video

    path = tmp_path_factory.mktemp("dyn") / "v.mp4"
    write_video(path, [Shot(skimage.data.rocket(), 4.0)], size=(160, 96), fps=10)
    return path


def _frames_of(cap: MultiCapture, source: str, count: int) -> list[Frame]:
    got, deadline = [], time.monotonic() + TIMEOUT_S
    while len(got) < count and time.monotonic() < deadline:
        got += [item for item in cap.batch(timeout=0.1) if isinstance(item, Frame) and item.source == source]
    assert len(got) >= count, f"{source}: {len(got)} frames within {TIMEOUT_S:g} s"
    return got


def test_sources_come_and_go_while_it_runs(video):
    statuses = []
    with MultiCapture([], CaptureConfig(realtime=False), sample_fps=4.0, max_side=96,
                      on_status=statuses.append, dynamic=True) as cap:
        assert cap.batch(timeout=0.05) == [] and cap.active == []  # waits, not ended: a source may come
        cap.add(parse_sources([f"a={video}"])[0])
        assert _frames_of(cap, "a", 3)[0].source == "a"
        with pytest.raises(ValueError, match="a: already captured"):
            cap.add(parse_sources([f"a={video}"])[0])
        cap.add(parse_sources([f"b={video}"])[0])
        _frames_of(cap, "b", 1)
        cap.remove("a")
        assert cap.source_ids == ["b"] and "a" not in cap.counters()
        rest = []
        while "b" in cap.active:
            rest += cap.batch(timeout=0.5)
        assert {item.source for item in rest} == {"b"} and isinstance(rest[-1], EndOfStream)
        cap.add(parse_sources([f"a={video}"])[0])  # the same id again: a fresh start
        assert _frames_of(cap, "a", 1)[0].index == 0
    assert [(s.source, s.state) for s in statuses if s.state is not SourceState.CONNECTED] == [("b", "ended"), ("a", "ended")]


def test_a_fixed_capture_still_refuses_no_sources():
    with pytest.raises(ValueError, match="no sources to capture"):
        MultiCapture([])
