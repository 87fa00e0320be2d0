"""The Python client API and the ``subscribe`` command, against real servers (in-process and in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from feedkit import TIMEOUT_S, caption, embedding, publish, running, status
from netkit import free_port
from streamer.feed.bus import EventBus
from streamer.feed.client import FeedRefused, subscribe
from streamer.feed.eventlog import SqliteEventLog

HERE = Path(__file__).resolve().parents[1]  # tests/streamer: feed_process.py
ROOT = HERE.parents[1]
#: Runs the real command line (``python -m pipelines.cli``): arguments follow.
SUBSCRIBE_CLI = ("-m", "pipelines.cli")


def start_feed_process(log_path: Path, port: int, first: int, count: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HERE / "feed_process.py"), str(log_path), str(port), str(first),
                             str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "ready"
    assert proc.stdout.readline().startswith("published")
    return proc


async def take(events, n: int) -> list[dict]:
    out = []
    async for event in events:
        out.append(event)
        if len(out) == n:
            return out
    return out


def test_client_resumes_by_itself_across_a_killed_server_process(tmp_path):
    log_path, port = tmp_path / "events.sqlite", free_port()
    first = start_feed_process(log_path, port, first=0, count=5)
    procs = [first]

    async def main():
        events = subscribe(f"ws://127.0.0.1:{port}/", types=["caption"], from_seq=0, max_backoff_s=0.3)
        got = await asyncio.wait_for(take(events, 5), TIMEOUT_S)
        first.send_signal(signal.SIGKILL)  # a crash: no close frame, no clean shutdown of the log
        first.wait()
        procs.append(await asyncio.to_thread(start_feed_process, log_path, port, 5, 3))
        got += await asyncio.wait_for(take(events, 3), TIMEOUT_S)
        await events.aclose()
        return got

    try:
        got = asyncio.run(main())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert [e["seq"] for e in got] == list(range(1, 9)), "the log survived the crash; seq continued; no gap"
    assert [e["text"] for e in got] == [f"caption {i}" for i in range(8)]


def test_client_resumes_across_an_in_process_server_restart_on_the_same_port(log_config):
    port = free_port()
    bus = EventBus(SqliteEventLog(log_config))

    async def main():
        events = subscribe(f"ws://127.0.0.1:{port}/", types=["caption", "status"], max_backoff_s=0.3)
        with running(bus, port=port):
            anext_event = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.3)  # connected and subscribed live
            await publish(bus, caption(1))
            got = [await asyncio.wait_for(anext_event, TIMEOUT_S)]
        await publish(bus, status("reconnecting"))  # published while no server runs: only in the log
        with running(bus, port=port):
            await publish(bus, caption(2))
            got += await asyncio.wait_for(take(events, 2), TIMEOUT_S)
        await events.aclose()
        return got

    got = asyncio.run(main())
    bus.close()
    assert [(e["seq"], e["type"]) for e in got] == [(1, "caption"), (2, "status"), (3, "caption")]


def test_client_gets_embeddings_as_binary_frames(bus, server):
    async def main():
        events = subscribe(server.url, types=["embedding"], embedding_format="binary")
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.3)
        sent = embedding(dim=32)
        await publish(bus, sent)
        got = await asyncio.wait_for(pending, TIMEOUT_S)
        await events.aclose()
        return sent, got

    sent, got = asyncio.run(main())
    assert got["type"] == "embedding" and got["dim"] == 32 and "data" not in got
    np.testing.assert_array_equal(got["embedding"], sent["embedding"].astype(np.float16))


def test_client_refuses_to_retry_a_wrong_token(bus):
    async def main():
        with running(bus, token="right") as server:
            with pytest.raises(FeedRefused, match="HTTP 401"):
                await take(subscribe(server.url, token="wrong"), 1)

    asyncio.run(main())


def run_cli(*args: str, timeout: float = TIMEOUT_S, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *SUBSCRIBE_CLI, "subscribe", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_subscribe_command_prints_one_json_event_per_line(bus):
    for i in range(5):
        bus.publish(caption(i, source=f"cam{i % 2}"))
    bus.publish(status())
    with running(bus, token="tok") as server:
        done = run_cli(server.url, "--types", "caption", "--sources", "cam0", "--from-seq", "1", "--limit", "2",
                       "--token", "tok")
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(e["seq"], e["source"]) for e in lines] == [(3, "cam0"), (5, "cam0")]

        import os
        env = {**os.environ, "JEPA_STREAM_TOKEN": "tok"}
        done = run_cli(server.url, "--types", "status,caption", "--from-seq", "4", "--limit", "2", env=env)
        assert [json.loads(line)["seq"] for line in done.stdout.splitlines()] == [5, 6]

        refused = run_cli(server.url, "--limit", "1", env={**os.environ, "JEPA_STREAM_TOKEN": "nope"})
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.strip().count("\n") == 0 and "HTTP 401" in refused.stderr

    bad = run_cli("ws://127.0.0.1:1/", "--types", "gossip")
    assert bad.returncode == 2 and bad.stderr.startswith("jepa-stream: error: --types: takes caption, status")
    down = run_cli(f"ws://127.0.0.1:{free_port()}/", "--no-reconnect")
    assert down.returncode == 1 and down.stderr.startswith("jepa-stream: error: ws://127.0.0.1:")
    assert ": cannot connect (" in down.stderr and down.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"jepa-stream: error: {server.url}: refused the connection: HTTP 401")


def test_subscribe_to_a_wrong_port_says_it_is_not_connected_yet():
    proc = subprocess.Popen([sys.executable, *SUBSCRIBE_CLI, "subscribe", f"ws://127.0.0.1:{free_port()}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines = [proc.stderr.readline() for _ in range(3)]  # three reconnection attempts
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=TIMEOUT_S)
    assert all("reconnecting in" in line and line.endswith("(not connected yet)\n") for line in lines), lines


def test_subscribe_command_ends_on_close_without_reconnect(bus):
    with running(bus) as server:
        proc = subprocess.Popen([sys.executable, *SUBSCRIBE_CLI, "subscribe", server.url, "--no-reconnect"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + TIMEOUT_S
        while server.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        bus.publish(caption(1))  # after its hello (last_seq 0): it resumes from 0, so it gets this one
        first_line = proc.stdout.readline()
    out, err = proc.communicate(timeout=TIMEOUT_S)  # the server stopped: 1001, and the command ends
    assert proc.returncode == 0, err
    assert [json.loads(line)["seq"] for line in (first_line + out).splitlines()] == [1]


def test_verbose_output_never_shows_the_token_and_the_command_line_one_is_warned_about(bus):
    token = "a-token-of-16-chars+"
    bus.publish(caption(1))
    with running(bus, token=token) as server:
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "-v", "subscribe", f"{server.url}?token={token}",
                               "--token", token, "--from-seq", "0", "--limit", "1"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Authorization: Bearer ***" in done.stderr, "the headers were logged, redacted"
    assert token not in done.stderr
    assert "jepa-stream: warning: --token is visible to other users in the process list" in done.stderr


def test_subscribe_with_a_limit_says_it_waits_when_the_feed_it_follows_ends(bus):
    with running(bus) as server:
        proc = subprocess.Popen([sys.executable, *SUBSCRIBE_CLI, "subscribe", server.url, "--limit", "5"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while server.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            bus.publish(caption(1))
            assert json.loads(proc.stdout.readline())["seq"] == 1
            server.stop()  # the run ended: 1001, and nothing more will come until one starts again
            line = proc.stderr.readline()
        finally:
            proc.kill()
            proc.wait(TIMEOUT_S)
    assert f"feed {server.url}: closed by the server (" in line
    assert line.rstrip().endswith("; waiting for it to come back (will resume after seq 1)")
