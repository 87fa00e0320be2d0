"""What an HTTP storm costs a live subscriber, with and without the feed's HTTP bounds.

A real ``FeedServer`` on loopback serves the console page (``/``) and a ``/metrics`` route over
16 sources; one WebSocket subscriber receives caption events published at ``--rate`` per
second, and the latency of each (publish to receipt) is recorded. Three phases, each
``--seconds`` long: ``quiet`` (no HTTP), ``storm bounded`` (``--clients`` concurrent clients
in another process loop on ``GET /`` and ``GET /metrics``, against the default bounds:
``max_http_requests`` 32, ``max_http_per_client`` 8, ``/metrics`` cached 1 s) and
``storm unbounded`` (the same storm with bounds of 10,000 and no cache, as before them).
Reports the subscriber's p50/p95/max latency and the storm's answers (200 and 503) per phase.

Usage: ``python benchmarks/bench_http_storm.py [--clients 200] [--seconds 5] [--out FILE]``.
Prints the figures and, with ``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report  # noqa: E402
from streamer.console.console_config import ConsoleConfig  # noqa: E402
from streamer.console.routes import console_routes  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.metrics import METRICS_CACHE_S, FeedStats, HistogramCounts, RunCollector, SourceMetrics, metrics_route  # noqa: E402
from streamer.feed.server import FeedServer, ServerConfig  # noqa: E402

STORM = """
import http.client, sys, threading, time
port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
counts, lock, end = {}, threading.Lock(), time.monotonic() + seconds
def client(i):
    path = "/" if i % 2 else "/metrics"
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
        except OSError:
            status = "error"
        with lock:
            counts[status] = counts.get(status, 0) + 1
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(repr(counts))
"""


def sources(count: int) -> dict[str, SourceMetrics]:
    step = HistogramCounts(tuple(0.001 * 2**k for k in range(12)), tuple(range(1, 13)), 1.5)
    return {f"cam{i}": SourceMetrics(frames_in=10**6, frames_analysed=10**6, frames_dropped=5, clips=10**5,
                                     decodes={"start": 1, "change": 900, "heartbeat": 30}, drift=0.4, threshold=1.7,
                                     reconnects=3, connections=4, step_seconds=step) for i in range(count)}


def phase(bus: EventBus, server_config: ServerConfig, cache_s: float, clients: int, seconds: float, rate: float) -> dict:
    """One phase: a subscriber's latencies while ``clients`` storm the server (0: none)."""
    routes = [*console_routes(ConsoleConfig(), None, None),
              metrics_route(RunCollector(lambda: sources(16), FeedStats), cache_s=cache_s)]
    server = FeedServer(server_config, bus, routes)
    server.start()
    sent: dict[int, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    async def subscribe() -> None:
        async with connect(server.url, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "subscribe", "types": ["caption"]}))
            while not done.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if message.get("type") == "caption" and message["seq"] in sent:
                    latencies.append((time.monotonic() - sent[message["seq"]]) * 1000)

    listener = threading.Thread(target=lambda: asyncio.run(subscribe()))
    listener.start()
    time.sleep(0.5)  # the subscription is in place (a benchmark, not a test)
    storm = subprocess.Popen([sys.executable, "-c", STORM, str(server.port), str(clients), str(seconds)],
                             stdout=subprocess.PIPE, text=True) if clients else None
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        start = time.monotonic()
        out = bus.publish({"v": 1, "type": "caption", "source": "cam0", "t": i, "t_start": i, "t_end": i + 1,
                           "text": "a cat", "labels": [], "drift": 0.5, "reason": "change", "latency_ms": {},
                           "wall_time": time.time()})
        sent[out["seq"]] = start
        i += 1
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - start)))
    answers = eval(storm.communicate(timeout=60)[0]) if storm else {}  # noqa: S307 (our own child's repr)
    time.sleep(0.5)
    done.set()
    listener.join()
    server.stop()
    got = np.array(latencies)
    return {"published": i, "received": len(got), "p50_ms": round(float(np.percentile(got, 50)), 2),
            "p95_ms": round(float(np.percentile(got, 95)), 2), "max_ms": round(float(got.max()), 2),
            "http_answers": {str(k): v for k, v in answers.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="captions published per second")
    parser.add_argument("--out", metavar="FILE.json")
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "clients": args.clients, "phases": {}}
    with tempfile.TemporaryDirectory() as folder:
        log = SqliteEventLog(EventLogConfig(os.path.join(folder, "e.sqlite"), fsync=False))
        bus = EventBus(log, sources=["cam0"], profile="lite")
        unbounded = ServerConfig(port=0, max_http_requests=10_000, max_http_per_client=10_000)
        for name, config, cache_s, clients in (("quiet", ServerConfig(port=0), METRICS_CACHE_S, 0),
                                               ("storm bounded", ServerConfig(port=0), METRICS_CACHE_S, args.clients),
                                               ("storm unbounded", unbounded, 0.0, args.clients)):
            results["phases"][name] = got = phase(bus, config, cache_s, clients, args.seconds, args.rate)
            print(f"{name:16s} subscriber latency p50 {got['p50_ms']:7.2f} ms  p95 {got['p95_ms']:7.2f} ms  "
                  f"max {got['max_ms']:7.2f} ms  ({got['received']}/{got['published']} captions)  HTTP {got['http_answers']}",
                  flush=True)
        log.close()
    if args.out:
        write_report(args.out, results)


if __name__ == "__main__":
    main()
