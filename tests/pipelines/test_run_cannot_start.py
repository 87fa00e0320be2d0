"""A run that cannot start loses nothing: an existing --events-out stays as it was, even with
--overwrite, when the event log is held by another process or the feed's port is taken; a taken
port is named (suggesting --port) before the models load."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from streamer.feed.eventlog import EventLogConfig, SqliteEventLog
from testlimits import TIMEOUT_S
from videokit import Shot, write_video

EARLIER = '{"earlier": "run"}\n'


@pytest.fixture
def setup(tmp_path, photos):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 3.0)], size=(160, 90), fps=10, crf=30)
    events_out = tmp_path / "events.jsonl"
    events_out.write_text(EARLIER)
    return video, events_out


def _run(tmp_path, *args):
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), *map(str, args)],
                          capture_output=True, text=True, timeout=3 * TIMEOUT_S)


def test_a_held_log_leaves_the_events_file_as_it_was(setup, tmp_path):
    video, events_out = setup
    held = SqliteEventLog(EventLogConfig(path=str(tmp_path / "events.sqlite")))
    try:
        result = _run(tmp_path, "--source", video, "--no-feed", "--events-out", events_out, "--overwrite")
    finally:
        held.close()
    assert result.returncode == 2 and "in use by process" in result.stderr
    assert events_out.read_text() == EARLIER


def test_a_taken_port_is_named_with_a_way_out_and_the_events_file_is_kept(setup, tmp_path):
    video, events_out = setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(tmp_path, "--source", video, "--port", port, "--events-out", events_out, "--overwrite")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"jepa-stream: error: cannot serve the feed on 127.0.0.1:{port}: address already in use "
        "(another run? pass --port N, or --port 0 for a free one)"]  # nothing from the models: they were not loaded
    assert events_out.read_text() == EARLIER
