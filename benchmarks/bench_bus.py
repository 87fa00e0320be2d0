"""End-to-end benchmark of the event engine path on loopback: worker -> NATS JetStream -> gateway -> WebSocket.

It starts a real ``nats-server -js`` (in a temporary folder, on free loopback ports), a gateway
in this process (:func:`streamer.feed.gateway_app.start_gateway`, what ``serve --bus`` runs),
a worker in a child process and the WebSocket subscribers in another, then measures:

* latency: the worker publishes captions at ``--rate`` (default 200/s) for ``--seconds`` through
  the real worker path (``EventBus`` with its outbox, one acknowledged publish at a time);
  p50/p99 of (receive time - the event's ``wall_time``) over every delivery to ``--latency-subscribers``
  subscribers (default 1). Target: p99 <= 20 ms.
* fan-out: ``--fanout-subscribers`` (default 100) subscribers; the child publishes ``--burst``
  captions as fast as JetStream takes them (100 publishes in flight, each with its message id);
  events/s is how many events per second reach *every* subscriber (received by all, divided by the
  time from the first publish to the last receive). The producer's own rate is reported beside it,
  so a reader can tell which side was the limit.

Every process shares one machine: on a 2-core box the engine, the gateway, the worker and the
subscribers compete for the CPU, so the figures are a lower bound for each part.

Usage: ``python benchmarks/bench_bus.py [--rate 200] [--seconds 5] [--out FILE]``.
Prints the figures and, with ``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from bench_fanout import subscribers_process  # noqa: E402  (the same subscribers, in a second process)
from benchkit import machine, write_report  # noqa: E402
from natskit import NatsServer  # noqa: E402
from streamer.feed.bus_config import BusConfig  # noqa: E402
from streamer.feed.engine import open_engine  # noqa: E402
from streamer.feed.eventlog import EventLogConfig  # noqa: E402
from streamer.feed.gateway_app import start_gateway  # noqa: E402
from streamer.feed.server_config import ServerConfig  # noqa: E402


def caption(i: int) -> dict:
    return {"v": 1, "type": "caption", "source": f"cam{i % 4}", "t": i * 0.04, "t_start": i * 0.04 - 2.0,
            "t_end": i * 0.04, "wall_time": time.time(), "text": "a tabby cat sitting on a sofa",
            "labels": [{"text": "tabby cat", "score": 0.61}, {"text": "sofa", "score": 0.22}], "drift": 0.31,
            "reason": "change", "latency_ms": {"encode": 9.1, "predict": 0.4, "decode": 1.2, "total": 14.0}}


def worker_paced(url: str, rate_hz: float, count: int, go) -> None:
    """Child process: the real worker path (EventBus with its outbox) at ``rate_hz``."""
    from streamer.feed.bus import EventBus

    engine = open_engine(BusConfig(url=url), EventLogConfig(), "bench-worker", wait_s=30)
    bus = EventBus(engine.log, outbox_max=100_000)
    go.wait(120)
    start = time.time()
    for i in range(count):
        bus.publish(caption(i))
        time.sleep(max(0.0, start + (i + 1) / rate_hz - time.time()))
    bus.close()
    engine.close()


def worker_burst(url: str, count: int, go, results) -> None:
    """Child process: ``count`` captions into the stream as fast as JetStream acknowledges them."""
    import nats

    from streamer.feed.log_api import message_id
    from streamer.feed.protocol import prepare_event

    config = BusConfig(url=url)

    async def main() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=30)
        go.wait(120)
        start = time.time()
        for first in range(0, count, 100):
            batch = [prepare_event(caption(i), 0) for i in range(first, min(count, first + 100))]
            await asyncio.gather(*(js.publish(config.subject(e.source, "caption"), e.utf8,
                                              headers={"Nats-Msg-Id": message_id("bench", e)}) for e in batch))
        results.put({"producer_events_per_s": count / (time.time() - start), "start": start})
        await nc.close()

    asyncio.run(main())


def run_phase(ctx, url: str, feed_url: str, subscribers: int, events: int, producer, *producer_args) -> dict:
    ready, results, go, produced = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Queue()
    readers = ctx.Process(target=subscribers_process, args=(feed_url, subscribers, events, ready, results))
    args = (*producer_args, go) if producer is worker_paced else (*producer_args, go, produced)
    writer = ctx.Process(target=producer, args=(url, *args))
    readers.start()
    writer.start()
    try:
        for _ in range(subscribers):
            ready.get(timeout=120)
        start = time.time()
        go.set()
        figures = results.get(timeout=600)
        if producer is worker_burst:
            made = produced.get(timeout=60)
            start = made["start"]
            figures["producer_events_per_s"] = round(made["producer_events_per_s"], 1)
        writer.join(60)
        readers.join(30)
    finally:
        for child in (readers, writer):
            if child.is_alive():
                child.kill()
    elapsed = figures.pop("last_receive") - start
    return {"subscribers": subscribers, "events": events, "seconds": round(elapsed, 3),
            "events_per_s": round(events / elapsed, 1), "deliveries_per_s": round(events * subscribers / elapsed, 1),
            **{k: round(v, 2) for k, v in figures.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase: captions per second (default 200)")
    parser.add_argument("--seconds", type=float, default=5.0, help="latency phase: duration (default 5)")
    parser.add_argument("--latency-subscribers", type=int, default=1)
    parser.add_argument("--fanout-subscribers", type=int, default=100)
    parser.add_argument("--burst", type=int, default=2000, help="fan-out phase: captions (default 2000)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats").start()
        engine = open_engine(BusConfig(url=server.url), EventLogConfig(), "bench-gateway", wait_s=30)
        gateway = start_gateway(engine, ServerConfig(port=0, max_connections=args.fanout_subscribers + 8,
                                                     client_queue=args.burst + 16))
        try:
            paced = run_phase(ctx, server.url, gateway.server.url, args.latency_subscribers,
                              int(args.rate * args.seconds), worker_paced, args.rate, int(args.rate * args.seconds))
            print(f"latency at {args.rate:g} events/s, {args.latency_subscribers} subscriber(s): "
                  f"p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms", flush=True)
            fanout = run_phase(ctx, server.url, gateway.server.url, args.fanout_subscribers, args.burst,
                               worker_burst, args.burst)
            print(f"fan-out to {args.fanout_subscribers} subscribers: {fanout['events_per_s']:.1f} events/s to every "
                  f"subscriber ({fanout['deliveries_per_s']:.1f} deliveries/s; producer "
                  f"{fanout['producer_events_per_s']:.1f} events/s)", flush=True)
        finally:
            gateway.close()
            engine.close()
            server.stop()
    report = {"benchmark": "bus", **machine(), "nats_server": "nats-server -js, one node, file store",
              "latency": {"rate_hz": args.rate, **paced}, "fanout": fanout}
    if args.out:
        write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
