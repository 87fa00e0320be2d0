"""`run --bus` publishes to a real nats-server; `serve --bus` serves it and never imports torch or PyAV."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from natskit import NatsServer, nats_binary, nats_server  # noqa: F401 (fixture)
from streamer.feed.bus_config import BusConfig
from streamer.feed.engine import open_engine
from streamer.feed.eventlog import EventLogConfig
from testlimits import TIMEOUT_S, wait_for
from videokit import Shot, write_video

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "streamer"))
from buskit import Reader  # noqa: E402

pytestmark = pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")


def start_gateway(*args) -> tuple[subprocess.Popen, str]:
    """``serve ARGS`` with ``-X importtime`` (every import goes to stderr); returns it and its feed URL."""
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "pipelines.cli", "serve", "--port", "0",
                             *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    imports, url = [], None
    while url is None:
        line = proc.stderr.readline()
        assert line, f"serve ended before serving (exit status {proc.wait(TIMEOUT_S)})"
        match = re.search(r"serving events on (ws://\S+)", line)
        url = match.group(1) if match else None
        imports.append(line)
    proc.imports = imports
    return proc, url


def imported(proc: subprocess.Popen) -> set[str]:
    """Top-level packages the process imported (from its ``-X importtime`` lines)."""
    lines = proc.imports + proc.stderr.read().splitlines()
    names = (line.split("|")[-1].strip() for line in lines if line.startswith("import time:"))
    return {name.split(".")[0] for name in names}


def test_a_worker_publishes_and_a_gateway_without_models_serves_it(photos, tmp_path, nats_server):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 3.0), Shot(photos["coffee"], 3.0)], size=(320, 180))  # played at its pace: stats every 1 s
    config = tmp_path / "c.yaml"
    config.write_text("feed:\n  stats_interval_s: 1.0\n  bus:\n    site: lab\n")
    gateway, url = start_gateway("--bus", nats_server.url, "--config", config)
    try:
        reader = Reader(url, from_seq=0, types=("caption", "status", "stats"))
        worker = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--source", f"cam.0={video}",
                                 "--bus", nats_server.url, "--config", config, "--no-feed"],
                                capture_output=True, text=True, timeout=4 * TIMEOUT_S)
        assert worker.returncode == 0, worker.stderr[-2000:]
        wait_for(lambda: any(m.get("state") == "ended" for m in list(reader.messages)), "the source's end")
        reader.close()
        base = url.replace("ws://", "http://", 1).rstrip("/")
        snapshots = [urllib.request.urlopen(base + m["snapshot"], timeout=TIMEOUT_S).read()
                     for m in reader.messages if m["type"] == "caption"]
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{base}/snapshots/cam.0/1.jpg", timeout=TIMEOUT_S)
    finally:
        gateway.terminate()
        gateway.wait(TIMEOUT_S)
    captions = [m for m in reader.messages if m["type"] == "caption"]
    states = [m["state"] for m in reader.messages if m["type"] == "status"]
    assert captions and {m["source"] for m in reader.messages if m["type"] != "subscribed"} == {"cam.0"}
    assert states[0] == "connected" and states[-1] == "ended"
    assert reader.seqs == list(range(1, len(reader.seqs) + 1)), "stream sequences, no gap, no duplicate"
    worker_stats = [m for m in reader.messages if m["type"] == "stats"]
    assert worker_stats and worker_stats[-1]["bus"]["dropped"] == 0
    assert not {"torch", "av", "transformers", "onnxruntime"} & imported(gateway), "a gateway loads no model"
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in snapshots), "every caption's snapshot, from the object store"


def test_serve_without_an_engine_is_a_one_line_usage_error():
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve"], capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 2
    assert result.stderr == ("jepa-stream: error: serve reads the event engine: give --bus nats://HOST:4222, "
                             "or feed.bus.url in --config\n")


def test_a_worker_started_while_the_engine_is_down_keeps_analysing_and_delivers_everything_later(photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["rocket"], 3.0), Shot(photos["camera"], 3.0)], size=(320, 180))
    server = NatsServer(tmp_path / "nats")  # its ports are chosen; it is not running yet
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'log.sqlite'}\n")  # snapshots: beside it
    worker = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--source", f"cam0={video}",
                               "--bus", server.url, "--config", config, "--no-feed"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # a snapshot on the worker's disk: it made a caption while the engine was down
        wait_for(lambda: any((tmp_path / "snapshots").rglob("*.jpg")) or worker.poll() is not None, "a caption")
        server.start()
        out, err = worker.communicate(timeout=4 * TIMEOUT_S)
        assert worker.returncode == 0, err[-2000:]
        engine = open_engine(BusConfig(url=server.url), EventLogConfig(), "test", wait_s=TIMEOUT_S)
        try:
            stored = [json.loads(text) for _, text in engine.log.read_wire_after(0, limit=10_000)]
        finally:
            engine.close()
    finally:
        if worker.poll() is None:
            worker.kill()
        server.stop()
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    states = [e["state"] for e in stored if e["type"] == "status"]
    assert states[0] == "connected" and states[-1] == "ended" and any(e["type"] == "caption" for e in stored)
    refusals = [line for line in err.splitlines() if "event engine" in line and "retrying" in line]
    assert len(refusals) == 1, f"one line for the outage, got {refusals}"
    assert "dropping" not in err, "nothing was dropped"
