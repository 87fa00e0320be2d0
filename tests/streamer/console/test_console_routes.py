"""The console's HTTP routes on a real feed server: the page public, pictures behind the token."""

from __future__ import annotations

import http.client
import json
import time

import cv2
import numpy as np
import pytest

from feedkit import running
from streamer.capture.frames import Frame
from streamer.console.console_config import ConsoleConfig
from streamer.console.newest import NewestFrames
from streamer.console.routes import console_routes
from streamer.console.console_config import SnapshotConfig
from streamer.console.snapshots import SnapshotStore
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog, EventLogConfig
from testlimits import TIMEOUT_S

TOKEN = "console-token-of-16+chars"


@pytest.fixture
def bus(tmp_path):
    log = EventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
    yield EventBus(log, sources=["cam0"], profile="lite")
    log.close()


def get(port: int, path: str, token: str | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_page_and_its_files_are_public_with_their_types_and_a_strict_policy(bus):
    with running(bus, routes=console_routes(ConsoleConfig(max_captions=42), None, None), token=TOKEN) as server:
        status, headers, body = get(server.port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b'src="/console/console.js"' in body
        assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'self'" in headers["Content-Security-Policy"]
        for name, kind in (("console.js", "text/javascript"), ("feed.js", "text/javascript"), ("trace.js", "text/javascript"),
                           ("console.css", "text/css")):
            status, headers, body = get(server.port, f"/console/{name}")
            assert status == 200 and headers["Content-Type"].startswith(kind) and body, name
        assert json.loads(get(server.port, "/console/settings.json")[2])["max_captions"] == 42
        for missing in ("/console/nothing.js", "/console/../routes.py", "/console/"):
            assert get(server.port, missing)[0] == 404, missing


def test_newest_frames_need_the_token_and_are_encoded_only_when_asked(bus, photos):
    frames = NewestFrames(interval_s=3600, max_side=160, quality=80)
    with running(bus, routes=console_routes(ConsoleConfig(), frames, None), token=TOKEN) as server:
        assert get(server.port, "/frames/")[0] == 401
        assert get(server.port, "/frames/cam0.jpg", TOKEN)[0] == 404  # no frame yet
        for i in range(50):
            frames.offer(Frame("cam0", i, i / 4, time.time(), photos["chelsea"]))
        assert frames.encodes == 0  # offering costs a reference, nothing more
        assert json.loads(get(server.port, "/frames/", TOKEN)[2]) == {"sources": ["cam0"]}
        status, headers, body = get(server.port, "/frames/cam0.jpg", TOKEN)
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and headers["Cache-Control"] == "no-store"
        assert max(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 160
        frames.offer(Frame("cam0", 50, 12.5, time.time(), photos["coffee"]))
        assert get(server.port, "/frames/cam0.jpg", TOKEN)[2] == body  # within frame_interval_s: the same picture
        assert frames.encodes == 1
        assert get(server.port, "/frames/../cam0.jpg", TOKEN)[0] == 404


def test_a_newer_frame_is_encoded_once_its_interval_is_over():
    frames = NewestFrames(interval_s=1.0, max_side=64, quality=80)
    image = np.zeros((36, 64, 3), np.uint8)
    frames.offer(Frame("cam0", 1, 0.0, 0.0, image))
    first = frames.jpeg("cam0", now=100.0)
    frames.offer(Frame("cam0", 2, 0.25, 0.0, image + 200))
    assert frames.jpeg("cam0", now=100.5) == first
    assert frames.jpeg("cam0", now=101.0) != first and frames.encodes == 2
    assert frames.jpeg("cam0", now=500.0) is not None and frames.encodes == 2  # no newer frame: nothing to do
    assert frames.jpeg("cam1") is None


def test_snapshots_are_served_behind_the_token_and_a_missing_one_is_a_404(bus, tmp_path, photos):
    store = SnapshotStore(SnapshotConfig(), tmp_path / "snaps", max_age_s=None)
    store.start()
    reference = store.submit("cam0", time.time(), (Frame("cam0", 0, 0.0, time.time(), photos["rocket"]),))
    store.stop()
    with running(bus, routes=console_routes(ConsoleConfig(), None, store), token=TOKEN) as server:
        assert get(server.port, reference)[0] == 401
        status, headers, body = get(server.port, reference, TOKEN)
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert "immutable" in headers["Cache-Control"]
        status, _, body = get(server.port, "/snapshots/cam0/1.jpg", TOKEN)
        assert status == 404 and b"no such snapshot" in body
        assert get(server.port, "/snapshots/../events.sqlite", TOKEN)[0] == 404
