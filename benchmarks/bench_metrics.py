"""How long ``GET /metrics`` takes with 16 sources (target: under 50 ms), over loopback.

It builds what a 16-camera ``jepa-stream run`` holds when /metrics is scraped: 16 real
``SelectivePipeline`` objects whose stats carry a day of counts (every step-latency bucket and
decode reason filled), a real ``MultiCapture`` over 16 sources (not started: its counters are
read as a live run's are), and a real ``FeedServer`` with the run's ``/metrics`` route and
``--subscribers`` WebSocket clients connected, while a thread publishes embedding events at
``--rate`` per second (16 cameras at the default 0.5 s stride make 32/s), so the scrape
competes with the fan-out on the feed's loop as it would. Each scrape is a new HTTP
connection with the bearer token, timed from connect to the last byte; the collector alone
(``generate_latest`` without HTTP) is timed too.

Usage: ``python benchmarks/bench_metrics.py [--sources 16] [--scrapes 200] [--out FILE]``.
Prints the figures and, with ``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchkit import write_report  # noqa: E402
from pipelines.core.clips import ClipConfig  # noqa: E402
from pipelines.core.drift import DriftConfig  # noqa: E402
from pipelines.run_metrics import run_metrics_route, source_metrics  # noqa: E402
from pipelines.core.selective import SelectivePipeline  # noqa: E402
from streamer.capture.multicapture import MultiCapture  # noqa: E402
from streamer.capture.source_spec import parse_sources  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.metrics import RunCollector  # noqa: E402
from streamer.feed.server import FeedServer  # noqa: E402
from streamer.feed.server_config import ServerConfig  # noqa: E402

TOKEN = "bench-metrics-token-0123456789"


def day_of_counts(pipeline: SelectivePipeline, rng: np.random.Generator) -> None:
    """A day of a 0.5 s stride: 172,800 clips, their step latencies and decodes."""
    st = pipeline.stats
    clips = 172_800
    st.frames, st.clips, st.decodes = clips * 2, clips, 3000
    st.first_t, st.last_t = 0.0, 86_400.0
    st.decodes_by_reason.update(start=1, change=2559, heartbeat=440)
    st.drift, st.threshold = 0.8, 1.75
    for value in rng.lognormal(np.log(0.02), 0.8, 5000):  # every bucket gets some
        st.step_seconds.observe(float(value))


def subscribers(url: str, count: int, stop: threading.Event, ready: threading.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async def one():
        async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=60) as ws:
            await ws.recv()  # hello
            await ws.send('{"type": "subscribe", "types": ["caption", "status", "embedding"]}')
            await ws.recv()  # subscribed
            ready.set()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                except asyncio.TimeoutError:
                    pass
                except ConnectionClosed:  # the server stopping at the end
                    return

    async def main():
        await asyncio.gather(*(one() for _ in range(count)))

    asyncio.run(main())


def publisher(bus: EventBus, sources: list[str], rate: float, stop: threading.Event) -> None:
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    vector /= np.linalg.norm(vector)
    i = 0
    while not stop.is_set():
        sid = sources[i % len(sources)]
        bus.publish({"v": 1, "type": "embedding", "source": sid, "t": i * 0.5, "t_start": i * 0.5 - 2,
                     "t_end": i * 0.5, "embedding": vector})
        i += 1
        stop.wait(1.0 / rate)


def scrape(port: int) -> tuple[float, int]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1e3, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=16)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=32.0, help="embedding events published per second meanwhile")
    parser.add_argument("--out", metavar="FILE.json")
    args = parser.parse_args()

    from videokit import Shot, write_video  # a real file for the capture's sources to name

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "v.mp4"
        write_video(video, [Shot(np.full((90, 160, 3), 128, np.uint8), 1.0)], size=(160, 90))
        specs = parse_sources([f"cam{i:02d}={video}" for i in range(args.sources)])
        capture = MultiCapture(specs)
        pipelines = {s.id: SelectivePipeline(s.id, None, ClipConfig(), DriftConfig()) for s in specs}
        for pipeline in pipelines.values():
            day_of_counts(pipeline, rng)
        log = SqliteEventLog(EventLogConfig(os.path.join(folder, "events.sqlite"), fsync=False))
        bus = EventBus(log, sources=list(pipelines), profile="lite")
        server = FeedServer(ServerConfig(port=0, token=TOKEN), bus,
                            [run_metrics_route(pipelines, capture, lambda: server.stats())])
        server.start()
        stop, ready = threading.Event(), threading.Event()
        threads = [threading.Thread(target=subscribers, args=(server.url, args.subscribers, stop, ready), daemon=True),
                   threading.Thread(target=publisher, args=(bus, list(pipelines), args.rate, stop), daemon=True)]
        for thread in threads:
            thread.start()
        ready.wait(60)
        try:
            for _ in range(10):  # warm-up
                scrape(server.port)
            timed = [scrape(server.port) for _ in range(args.scrapes)]
            collector = RunCollector(lambda: source_metrics(pipelines, capture), lambda: server.stats())
            from prometheus_client import CollectorRegistry, generate_latest

            registry = CollectorRegistry(auto_describe=False)
            registry.register(collector)
            alone = []
            for _ in range(args.scrapes):
                start = time.perf_counter()
                text = generate_latest(registry)
                alone.append((time.perf_counter() - start) * 1e3)
            subscribed = server.stats().clients
        finally:
            stop.set()
            server.stop()
            log.close()
    ms = np.array([t for t, _ in timed])
    samples = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    result = {
        "sources": args.sources, "scrapes": args.scrapes, "subscribers_connected": subscribed,
        "publish_rate_per_s": args.rate, "body_bytes": timed[-1][1], "samples": samples,
        "http_ms": {"p50": round(float(np.percentile(ms, 50)), 3), "p95": round(float(np.percentile(ms, 95)), 3),
                    "p99": round(float(np.percentile(ms, 99)), 3), "max": round(float(ms.max()), 3)},
        "collector_only_ms": {"p50": round(float(np.percentile(alone, 50)), 3),
                              "p95": round(float(np.percentile(alone, 95)), 3)},
        "target_ms": 50.0,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    h = result["http_ms"]
    print(f"GET /metrics, {args.sources} sources ({samples} samples, {result['body_bytes']} bytes), "
          f"{subscribed} subscribers, {args.rate:g} events/s meanwhile, {args.scrapes} scrapes:")
    print(f"  over HTTP: p50 {h['p50']:.2f} ms, p95 {h['p95']:.2f} ms, p99 {h['p99']:.2f} ms, max {h['max']:.2f} ms "
          f"(target < 50 ms: {'met' if h['p99'] < 50 else 'NOT met'} at p99)")
    print(f"  collector alone: p50 {result['collector_only_ms']['p50']:.2f} ms, p95 {result['collector_only_ms']['p95']:.2f} ms")
    if args.out:
        write_report(args.out, result)


if __name__ == "__main__":
    main()
