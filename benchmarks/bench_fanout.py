"""Fan-out benchmark of the WebSocket event feed on loopback.

For each subscriber count (default 1, 10, 100, 200) it runs a real FeedServer
and EventBus (with its SQLite log) in this process, and all subscribers in one
child process (its own asyncio loop, so the server does not share a GIL with
them), then measures:

* throughput: caption events published back to back; events/s is how many
  events per second reach *every* subscriber (deliveries/s = events/s x
  subscribers). The client queue is raised for this phase so the figure is the
  fan-out capacity, not the overflow policy;
* latency: captions published at a steady ``--rate`` with the default
  settings; p50/p99 of (receive time - event ``wall_time``) over every
  delivery.

The subscribers' process shares the machine with the server: on a 2-core box
the figures are a lower bound on what the server alone can do.

Usage: ``python benchmarks/bench_fanout.py [--subscribers 1 10 100 200] [--out FILE]``.
Prints a table and, with ``--out``, writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import machine, write_report  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.server import FeedServer  # noqa: E402
from streamer.feed.server_config import ServerConfig  # noqa: E402


def caption(i: int) -> dict:
    return {"v": 1, "type": "caption", "source": f"cam{i % 4}", "t": i * 0.5, "t_start": i * 0.5 - 2.0,
            "t_end": i * 0.5, "wall_time": time.time(), "text": "a tabby cat sitting on a sofa",
            "labels": [{"text": "tabby cat", "score": 0.61}, {"text": "sofa", "score": 0.22}], "drift": 0.31,
            "reason": "change", "latency_ms": {"encode": 9.1, "predict": 0.4, "decode": 1.2, "total": 14.0}}


def subscribers_process(url: str, count: int, expected: int, ready, results) -> None:
    """Child process: ``count`` subscribers, each reading ``expected`` captions."""
    from websockets.asyncio.client import connect

    async def subscriber():
        async with connect(url, compression=None, max_size=None, open_timeout=60) as ws:
            await ws.recv()  # hello
            await ws.send('{"type": "subscribe", "types": ["caption"]}')
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass
            ready.put(1)
            latencies, seqs = np.empty(expected), []
            for k in range(expected):
                message = json.loads(await ws.recv())
                latencies[k] = time.time() - message["wall_time"]
                seqs.append(message["seq"])
            assert seqs == list(range(seqs[0], seqs[0] + expected)), "lost, duplicated or reordered events"
            return latencies, time.time()

    async def main():
        done = await asyncio.gather(*(subscriber() for _ in range(count)))
        lat = np.concatenate([d[0] for d in done])
        results.put({"p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3),
                     "last_receive": max(d[1] for d in done)})

    asyncio.run(main())


def run_phase(bus: EventBus, config: ServerConfig, subscribers: int, events: int, rate_hz: float | None) -> dict:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    server = FeedServer(config, bus)
    server.start()
    child = ctx.Process(target=subscribers_process, args=(server.url, subscribers, events, ready, results))
    child.start()
    try:
        for _ in range(subscribers):
            ready.get(timeout=120)
        start = time.time()
        for i in range(events):
            bus.publish(caption(i))
            if rate_hz:
                time.sleep(max(0.0, start + (i + 1) / rate_hz - time.time()))
        figures = results.get(timeout=300)
        child.join(30)
    finally:
        if child.is_alive():
            child.kill()
        server.stop()
    elapsed = figures["last_receive"] - start
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed, 1),
            "deliveries_per_s": round(events * subscribers / elapsed, 1),
            "p50_ms": round(figures["p50_ms"], 2), "p99_ms": round(figures["p99_ms"], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 10, 100, 200])
    parser.add_argument("--deliveries", type=int, default=40_000,
                        help="throughput phase: events x subscribers to aim for (default 40000)")
    parser.add_argument("--rate", type=float, default=20.0, help="latency phase: captions per second (default 20)")
    parser.add_argument("--seconds", type=float, default=3.0, help="latency phase: duration (default 3)")
    parser.add_argument("--fsync", action="store_true", help="flush the event log per event (the server default)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bus = EventBus(SqliteEventLog(EventLogConfig(path=os.path.join(tmp, "events.sqlite"), fsync=args.fsync)))
        for n in args.subscribers:
            burst = max(200, min(4000, args.deliveries // n))
            throughput = run_phase(bus, ServerConfig(port=0, client_queue=burst + 16, max_connections=n + 8),
                                   n, burst, rate_hz=None)
            paced = run_phase(bus, ServerConfig(port=0, max_connections=n + 8), n, int(args.rate * args.seconds),
                              rate_hz=args.rate)
            rows.append({"subscribers": n, "throughput": throughput, "paced": {"rate_hz": args.rate, **paced}})
            print(f"{n:4d} subscribers: {throughput['events_per_s']:9.1f} events/s "
                  f"({throughput['deliveries_per_s']:9.1f} deliveries/s; burst p50 {throughput['p50_ms']:.1f} ms) | "
                  f"at {args.rate:g} Hz: p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms", flush=True)
        bus.close()
    report = {"benchmark": "fanout", **machine(), "fsync": args.fsync, "results": rows}
    if args.out:
        write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
