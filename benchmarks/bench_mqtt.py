"""What the MQTT and webhook sinks cost, and how fast a decision reaches an MQTT subscriber.

Starts a real mosquitto (``/usr/sbin/mosquitto``, or ``--mosquitto``) on a free loopback port and
a local HTTP server that takes the webhook POSTs, then measures:

* delivery delay: captions published through a real EventBus (SQLite log, ``fsync`` off) with the
  MQTT sink, at ``--rate`` for ``--seconds``; p50/p99 of (arrival at a paho subscriber - the
  caption's ``wall_time``, when the decision was made), and what ``publish`` costs the
  publishing thread with and without the sink;
* the same for the captions of ``jepa-stream run`` on the demo video (end to end, few samples);
* the pipeline's step p95 over the demo (``run --no-realtime``) without and with both sinks,
  ``--repeats`` runs each, alternating (the step is encode + predict + drift; the sinks run on
  their own threads, so what they cost shows as CPU taken from the step).

Usage: ``python benchmarks/bench_mqtt.py [--repeats 2] [--out FILE]``. Prints the figures and, with
``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.core.caption import Caption, StageLatency  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.controls import PausedSources  # noqa: E402
from streamer.feed.eventlog import EventLog, EventLogConfig  # noqa: E402
from streamer.feed.events import caption_event  # noqa: E402
from streamer.mqtt.config import MqttConfig  # noqa: E402
from streamer.mqtt.sink import MqttSink  # noqa: E402

DEMO = ROOT / "demo" / "demo.mp4"


def start_broker(mosquitto: str, folder: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"mosquitto did not listen on {port}")


class Arrivals:
    """A subscriber that notes (arrival time, JSON payload) of every caption message."""

    def __init__(self, port: int) -> None:
        self.got: list[tuple[float, dict]] = []  # retained messages (an earlier run's) are left out
        ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *a: c.subscribe("+/+/caption", 1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: m.retain or self.got.append((time.time(), json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        ready.wait(10)

    def delays_ms(self) -> np.ndarray:
        return np.array([(arrived - body["wall_time"]) * 1e3 for arrived, body in self.got])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentiles(values: np.ndarray) -> dict:
    return {"n": int(values.size), "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2)} if values.size else {"n": 0}


def bus_delay(port: int | None, folder: Path, rate: float, seconds: float) -> dict:
    """Captions through a real bus, with the MQTT sink when ``port`` is given: what ``publish``
    costs the pipeline's thread, and (with the sink) the delay to a subscriber."""
    tag = "sink" if port else "plain"
    log = EventLog(EventLogConfig(str(folder / f"bus-{tag}.sqlite"), fsync=False))
    bus = EventBus(log, sources=["cam0"])
    sink = arrivals = None
    if port:
        sink = MqttSink(MqttConfig(url=f"mqtt://127.0.0.1:{port}", prefix="bench", discovery=False), log,
                        folder / "bus.cursor.json", ["cam0"], paused=PausedSources())
        arrivals = Arrivals(port)
        sink.start()
        bus.add_sink(sink)
    count, publish_ms = int(rate * seconds), []
    for i in range(count):
        event = caption_event(Caption("cam0", i / rate, i / rate, i / rate, time.time(), "a tabby cat", (("tabby", 0.9),), 0.5,
                                      "change", 0.3, StageLatency(1, 1, 1, 3)))
        start = time.perf_counter()
        bus.publish(event)
        publish_ms.append((time.perf_counter() - start) * 1e3)
        time.sleep(1 / rate)
    out = {"publish_ms": percentiles(np.array(publish_ms))}
    if sink and arrivals:
        deadline = time.monotonic() + 30
        while len(arrivals.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        sink.stop()
        arrivals.close()
        out["decision_to_subscriber"] = percentiles(arrivals.delays_ms())
    log.close()
    return out


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def demo_run(folder: Path, port: int | None, hook: str | None, tag: str) -> tuple[float, np.ndarray]:
    """One ``run --no-realtime`` of the demo; returns (step p95 ms, decision->subscriber delays)."""
    config = folder / f"{tag}.yaml"
    text = f"feed:\n  log:\n    path: {folder / tag}.sqlite\n"
    if hook:
        text += f"webhooks:\n  urls: [{hook}]\n  secret: bench-secret\n  types: [scene, caption, status]\n"
    config.write_text(text)
    args = [sys.executable, "-m", "pipelines.cli", "run", "--source", str(DEMO), "--no-realtime", "--port", "0", "--config", str(config)]
    arrivals = Arrivals(port) if port else None
    if port:
        args += ["--mqtt", f"mqtt://127.0.0.1:{port}"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if arrivals:
        time.sleep(0.5)
        arrivals.close()
    match = re.search(r"step p50 ([\d.]+) ms, p95 ([\d.]+) ms", out.stdout)
    if out.returncode != 0 or not match:
        raise SystemExit(f"run failed ({out.returncode}): {out.stderr[-2000:]}")
    return float(match.group(2)), arrivals.delays_ms() if arrivals else np.array([])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    parser.add_argument("--rate", type=float, default=20.0, help="bus phase: captions per second (default 20)")
    parser.add_argument("--seconds", type=float, default=10.0, help="bus phase: duration (default 10)")
    parser.add_argument("--repeats", type=int, default=2, help="demo runs without and with the sinks (default 2 each)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        folder = Path(tmp)
        broker, port = start_broker(args.mosquitto, folder)
        hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
        threading.Thread(target=hook.serve_forever, daemon=True).start()
        try:
            report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
                      "bus_without_sinks": bus_delay(None, folder, args.rate, args.seconds),
                      "bus_with_mqtt": bus_delay(port, folder, args.rate, args.seconds)}
            without, with_sinks, demo_delays = [], [], []
            for i in range(args.repeats):
                without.append(demo_run(folder, None, None, f"plain{i}")[0])
                p95, delays = demo_run(folder, port, f"http://127.0.0.1:{hook.server_port}/hook", f"sinks{i}")
                with_sinks.append(p95)
                demo_delays.extend(delays)
            report["demo_decision_to_subscriber"] = percentiles(np.array(demo_delays))
            report["step_p95_ms"] = {"without_sinks": without, "with_mqtt_and_webhooks": with_sinks}
        finally:
            hook.shutdown()
            broker.terminate()
            broker.wait()
    print(json.dumps(report, indent=2))
    print(f"demo step p95 (ms): {report['step_p95_ms']}", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
