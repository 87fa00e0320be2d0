"""`serve --bus` with `webhooks:` in its config POSTs the site's events from the engine's stream:
signed, in stream order, each once across a restart of the gateway (its cursor), the events
published while it was down sent when it is back, and after a SIGKILL nothing lost (at most the
last POST again). MQTT on a gateway is refused in one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from natskit import nats_binary, nats_server  # noqa: F401 (fixture)
from netkit import free_port
from streamer.feed.bus_config import BusConfig
from streamer.webhook.config import SIGNATURE_HEADER
from streamer.webhook.sink import signature
from testlimits import TIMEOUT_S, wait_for
from webhookkit import Receiver

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "streamer"))
from buskit import Worker  # noqa: E402

pytestmark = pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")

SECRET = "a-gateway-webhook-secret"


def serve(config, nats_url: str) -> subprocess.Popen:
    """``jepa-stream serve --bus`` with ``config``, once it serves (the secret comes from the environment)."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", "0", "--bus", nats_url,
                             "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HOOK_SECRET": SECRET})
    while not re.search(r"serving events on ws://", line := proc.stderr.readline()):
        assert line, f"serve ended before serving (exit status {proc.wait(TIMEOUT_S)})"
    return proc


def stop(proc: subprocess.Popen) -> str:
    """SIGTERM, wait, and return the rest of its stderr."""
    proc.terminate()
    rest = proc.stderr.read()
    assert proc.wait(TIMEOUT_S) in (0, 130), rest
    return rest


def test_a_gateway_posts_the_sites_events_in_stream_order_across_its_restart_and_loses_none_to_a_kill(nats_server, tmp_path):
    receiver = Receiver(free_port())
    config = tmp_path / "gateway.yaml"
    config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'gateway.sqlite'}\n"  # the cursor goes beside it
                      f"webhooks:\n  urls: [http://127.0.0.1:{receiver.server.server_port}/hook]\n"
                      "  secret: ${HOOK_SECRET}\n  types: [caption]\n")
    worker = Worker(BusConfig(url=nats_server.url))
    try:
        gateway = serve(config, nats_server.url)
        worker.publish(5)
        wait_for(lambda: len(receiver.posts) >= 5, "the first five POSTs")
        stderr = stop(gateway)
        worker.publish(5)  # while no gateway runs: they wait in the stream
        gateway = serve(config, nats_server.url)
        wait_for(lambda: len(receiver.posts) >= 10, "the five published while the gateway was down")
        worker.publish(2)
        wait_for(lambda: len(receiver.posts) >= 12, "two more, live")
        stderr += stop(gateway)
        clean = len(receiver.posts)
        gateway = serve(config, nats_server.url)
        worker.publish(3)
        wait_for(lambda: len(receiver.posts) >= clean + 1, "a first POST after the second restart")
        gateway.kill()  # SIGKILL mid-stream: no drain, the cursor as the last write left it
        gateway.wait(TIMEOUT_S)
        worker.publish(2)
        gateway = serve(config, nats_server.url)
        wait_for(lambda: {json.loads(b)["seq"] for _, b in receiver.posts} >= set(range(1, 18)), "every caption after the kill")
        stderr += stop(gateway)
    finally:
        worker.close()
        receiver.stop()
    bodies = [json.loads(body) for _, body in receiver.posts]
    assert [b["text"] for b in bodies[:clean]] == [f"caption {i}" for i in range(1, 13)]
    assert [b["seq"] for b in bodies[:clean]] == list(range(1, 13)), "the stream's sequence: no gap, no repeat"
    after_kill = [b["seq"] for b in bodies[clean:]]
    assert after_kill == sorted(after_kill) and set(after_kill) == set(range(13, 18)), "in order, nothing lost"
    assert len(after_kill) - len(set(after_kill)) <= 1, "at most the POST whose cursor write the kill cut off, again"
    assert all(headers[SIGNATURE_HEADER] == signature(SECRET, body) for headers, body in receiver.posts)
    assert SECRET not in stderr


def test_mqtt_on_a_gateway_is_refused_in_one_line(nats_server, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("mqtt:\n  url: mqtt://127.0.0.1:1883\n")
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--port", "0", "--bus", nats_server.url,
                             "--config", str(config)], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("jepa-stream: error: mqtt: on a bus site (serve --bus) is not built yet: "
                                              "its scene events and detect switch need the workers; webhooks: work here")


def test_webhooks_on_a_run_bus_worker_are_refused_in_one_line_before_anything_starts(tmp_path):
    config = tmp_path / "worker.yaml"
    config.write_text("webhooks:\n  urls: [http://127.0.0.1:9/hook]\n  secret: a-secret-of-enough-length\n")
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--source", f"cam0={Path(__file__).resolve().parents[2] / 'demo' / 'demo.mp4'}", "--bus",
                             "nats://127.0.0.1:9", "--config", str(config), "--no-feed"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "jepa-stream: error: mqtt: and webhooks: are not for a run --bus worker, which sees only its own cameras: "
        "put webhooks: in the config of one gateway (serve --bus); mqtt: on a bus site is not built yet")
