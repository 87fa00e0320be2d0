"""Fixtures for the live-capture tests: a short looping test video and real RTSP servers."""

from __future__ import annotations

import pytest

from rtsp_kit import RtspServer, rtsp_unavailable


@pytest.fixture(scope="session")
def live_video(tmp_path_factory, photos):
    """A 10 s, 320×240, 15 fps H.264 MP4 (keyframe every second): two shots of 5 s."""
    from videokit import Shot, write_video

    path = tmp_path_factory.mktemp("live") / "live.mp4"
    write_video(path, [Shot(photos["chelsea"], 5.0), Shot(photos["coffee"], 5.0)], size=(320, 240), fps=15, gop=15)
    return path


@pytest.fixture
def rtsp_factory(live_video, tmp_path):
    """Make RTSP servers of ``live_video`` (started); all are stopped after the test."""
    reason = rtsp_unavailable()
    if reason:
        pytest.skip(reason)
    servers: list[RtspServer] = []

    def make(mount: str = "/cam", start: bool = True) -> RtspServer:
        server = RtspServer(live_video, tmp_path, mount=mount)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop(hard=True)


@pytest.fixture
def rtsp_server(rtsp_factory):
    """One running RTSP server at ``rtsp_server.url``."""
    return rtsp_factory()
