"""`jepa-stream run` on real RTSP cameras and a file at once, through a camera restart.

Everything is real: two RTSP servers on 127.0.0.1, the packaged models, the WebSocket feed with
its durable log, and a `jepa-stream subscribe` client in another process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testlimits import TIMEOUT_S, wait_for


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


@pytest.fixture
def short_file(tmp_path, photos):
    from videokit import Shot, write_video

    path = tmp_path / "clip.mp4"
    write_video(path, [Shot(photos["rocket"], 3.0), Shot(photos["camera"], 3.0)], size=(320, 180))
    return path


def test_two_cameras_and_a_file_with_a_camera_restart(rtsp_factory, short_file, tmp_path):
    cam0, cam1 = rtsp_factory("/cam0"), rtsp_factory("/cam1")
    config = tmp_path / "run.yaml"
    config.write_text(
        "capture:\n  backoff_initial_s: 0.2\n  backoff_max_s: 1.0\n  stall_timeout_s: 3.0\n  read_timeout_s: 2.0\n"
        f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n"
    )
    events_out = tmp_path / "events.jsonl"
    analyzer = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), "--port", "0",
         "--events-out", str(events_out),
         "--source", f"cam0={cam0.url}", "--source", f"cam1={cam1.url}", "--source", f"clip={short_file}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    subscriber = None
    try:
        url = None
        deadline = time.monotonic() + TIMEOUT_S
        while url is None and time.monotonic() < deadline:
            line = analyzer.stderr.readline()
            match = re.search(r"serving events on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "the feed did not start"
        subscriber = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "subscribe", url, "--from-seq", "0",
             "--types", "caption", "status", "scene"],  # every type the run logs to --events-out
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )

        def captions(source):
            return [e for e in read_jsonl(events_out) if e["type"] == "caption" and e["source"] == source]

        def states(source):
            return [e["state"] for e in read_jsonl(events_out) if e["type"] == "status" and e["source"] == source]

        wait_for(lambda: captions("cam0") and captions("cam1"), "captions from both cameras", 2 * TIMEOUT_S)
        wait_for(lambda: "ended" in states("clip"), "the file to play to its end", 2 * TIMEOUT_S)
        before = captions("cam0")[-1]["t"]

        cam0.stop()
        wait_for(lambda: "reconnecting" in states("cam0"), "cam0 to notice the outage", TIMEOUT_S)
        cam0.start()
        wait_for(lambda: states("cam0").count("connected") >= 2, "cam0 to reconnect", TIMEOUT_S)
        wait_for(lambda: captions("cam0")[-1]["t"] > before, "a caption from cam0 after the restart", 2 * TIMEOUT_S)
        # The scene may have changed during the gap: the first complete clip after it is captioned.
        wait_for(lambda: [c for c in captions("cam0") if c.get("reason") == "resume"], "a resume caption from cam0", 2 * TIMEOUT_S)

        analyzer.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out, err = analyzer.communicate(timeout=TIMEOUT_S)
        assert time.monotonic() - stopped < 4.0
        assert analyzer.returncode == 0, err
    finally:
        if analyzer.poll() is None:
            analyzer.kill()
            analyzer.wait()

    events = read_jsonl(events_out)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    for source in ("cam0", "cam1", "clip"):
        mine = [e for e in events if e["type"] == "caption" and e["source"] == source]
        assert mine and mine[0]["reason"] == "start", source
        ts = [e["t"] for e in mine]
        assert ts == sorted(ts), f"{source}: media time went backwards"
    cam0_states = [e["state"] for e in events if e["type"] == "status" and e["source"] == "cam0"]
    assert cam0_states[0] == "connected" and "disconnected" in cam0_states and cam0_states.count("connected") >= 2
    reconnected = [e for e in events if e["type"] == "status" and e["source"] == "cam0" and e["state"] == "connected"][1]
    resumed = [e for e in events if e["type"] == "caption" and e.get("reason") == "resume"]
    assert [e["source"] for e in resumed] == ["cam0"] * len(resumed) and len(resumed) >= 1  # only the camera that was away
    assert resumed[0]["seq"] > reconnected["seq"]
    opened = [e["caption_seq"] for e in events if e["type"] == "scene" and e["state"] == "new" and e["source"] == "cam0"]
    assert resumed[0]["seq"] in opened  # the resume opens a new scene, as the start did
    assert all("encoder lite/" in line for line in out.splitlines() if "analysed in" in line)  # which model ran
    assert {"cam0:", "cam1:", "clip:"} <= {line.split()[0] for line in out.splitlines() if "analysed in" in line}

    # The WebSocket subscriber, resuming from seq 0 in another process, saw exactly the same events.
    time.sleep(0.5)
    subscriber.send_signal(signal.SIGINT)
    received, _ = subscriber.communicate(timeout=TIMEOUT_S)
    feed = [json.loads(line) for line in received.splitlines() if line.startswith("{")]
    assert [e["seq"] for e in feed] == seqs
    assert feed == events


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="a webcam is attached: this test needs none")
def test_a_missing_webcam_reports_each_retry_once_without_opencv_noise(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("capture:\n  max_attempts: 3\n  backoff_initial_s: 0.1\n  backoff_max_s: 0.2\n"
                      f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--source", "0", "--no-feed",
                           "--config", str(config)], capture_output=True, text=True, timeout=TIMEOUT_S)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert [line.split(" — ")[0] for line in lines[:-1]] == ["cam0: reconnecting", "cam0: reconnecting", "cam0: error"]
    assert lines[-1] == ("jepa-stream: error: cam0: giving up after 3 failed attempts: cannot open webcam 0: "
                         "no such device or it is busy")
