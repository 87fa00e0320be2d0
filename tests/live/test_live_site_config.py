"""`jepa-stream run --config site.yaml` with no --source: a password-protected RTSP camera whose
password comes from the environment through ${VAR}, and a second camera with a wrong one.

Everything is real: a GStreamer RTSP server on 127.0.0.1 that demands Basic auth, the packaged
models, the WebSocket feed, /metrics and the durable log. Neither password may show anywhere:
the command line, stdout and stderr (with -v logging), the events written with --events-out,
the durable log's files, /metrics and the feed's hello.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest
from websockets.asyncio.client import connect

from rtsp_kit import RtspServer, rtsp_unavailable
from testlimits import TIMEOUT_S, wait_for

SECRET = "Door-Pa55word-1234"
WRONG = "Wrong-Pa55word-5678"


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_cameras_from_the_config_file_with_passwords_from_the_environment(live_video, tmp_path):
    reason = rtsp_unavailable()
    if reason:
        pytest.skip(reason)
    camera = RtspServer(live_video, tmp_path, mount="/door", credentials=("viewer", SECRET)).start()
    try:
        with pytest.raises(av.error.FFmpegError):  # the camera really wants the password
            av.open(camera.url, options={"rtsp_transport": "tcp"}, timeout=(TIMEOUT_S / 4, TIMEOUT_S / 4)).close()
        _run_and_check(camera, tmp_path)
    finally:
        camera.stop(hard=True)


def _run_and_check(camera: RtspServer, tmp_path: Path) -> None:
    where = f"127.0.0.1:{camera.port}/door"
    site = tmp_path / "site.yaml"
    site.write_text(
        "sources:\n"
        f"  - id: door\n    url: rtsp://viewer:${{DOOR_PASSWORD}}@{where}\n    stall_timeout_s: 3\n"
        f"  - id: wrong\n    url: rtsp://viewer:${{WRONG_PASSWORD}}@{where}\n"
        "    backoff_initial_s: 0.2\n    backoff_max_s: 0.5\n"
        f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n"
    )
    events_out = tmp_path / "events.jsonl"
    env = {**os.environ, "DOOR_PASSWORD": SECRET, "WRONG_PASSWORD": WRONG}
    run = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "-v", "run", "--config", str(site), "--port", "0",
         "--events-out", str(events_out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    stderr_head = []
    try:
        url = None
        deadline = time.monotonic() + TIMEOUT_S
        while url is None and time.monotonic() < deadline:
            line = run.stderr.readline()
            stderr_head.append(line)
            match = re.search(r"serving events on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "the feed did not start"
        cmdline = Path(f"/proc/{run.pid}/cmdline").read_bytes().decode(errors="replace")

        def events(kind, source):
            return [e for e in read_jsonl(events_out) if e["type"] == kind and e["source"] == source]

        wait_for(lambda: events("caption", "door"), "a caption from the camera with the password", 2 * TIMEOUT_S)
        wait_for(lambda: any(e["state"] == "reconnecting" for e in events("status", "wrong")),
                 "the camera with the wrong password to be retried", TIMEOUT_S)

        async def hello():
            async with connect(url, open_timeout=TIMEOUT_S) as ws:
                return await asyncio.wait_for(ws.recv(), TIMEOUT_S)

        hello_text = asyncio.run(hello())
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port, timeout=TIMEOUT_S)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        conn.close()
    finally:
        run.terminate()
        stdout, stderr_tail = run.communicate(timeout=TIMEOUT_S)
    stderr = "".join(stderr_head) + stderr_tail

    assert json.loads(hello_text)["sources"] == ["door", "wrong"]
    assert 'jepa_stream_clips_total{source="door"}' in metrics
    door_status = [e["detail"] for e in events("status", "door")]
    assert f"connected to rtsp://viewer:***@{where}" in door_status  # the URL is shown, its password is not
    wrong_status = " ".join(e["detail"] for e in events("status", "wrong"))
    assert "viewer:***@" in wrong_status and ("401" in wrong_status or "unauthorized" in wrong_status.lower())
    durable = b"".join(p.read_bytes() for p in tmp_path.glob("events.sqlite*"))
    assert len(durable) > 0
    for secret in (SECRET, WRONG):
        for name, text in [("command line", cmdline), ("stdout", stdout), ("stderr", stderr),
                           ("--events-out", events_out.read_text()), ("/metrics", metrics), ("hello", hello_text)]:
            assert secret not in text, f"{secret} shows in {name}"
        assert secret.encode() not in durable, f"{secret} shows in the durable log"
