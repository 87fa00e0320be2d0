"""What the console costs the pipeline: per-sample CPU and step time with and without it.

    python benchmarks/bench_console.py [--video FILE] [--repeat N] [--out FILE.json]

Each run plays the video at its own pace (as ``jepa-stream run`` plays a file, so every per-second
cost weighs as it would on a camera) through the same runner, event bus (SQLite log) and feed
server as ``run``, publishing embeddings and stats. Runs alternate between:

* ``without``: no console (no routes, no snapshots, nobody subscribed);
* ``with``: snapshots written per caption, the newest frame kept per sample, and a page's load
  from another process: a WebSocket subscription to everything the page asks for
  (caption, status, stats, embedding), the newest frame fetched every ``frame_interval_s``, and
  every caption's snapshot fetched.

Figures per run: CPU seconds of the analyzer process (all its threads: capture, pipeline, feed,
snapshot writer) per sampled frame, the CPU seconds of the feed-server and snapshot-writer threads
(where the console's work happens: the direct figure, far less noisy than the process's total on a
shared machine), and the pipeline's step time per clip (p50, mean). The page process's own CPU is
not counted (a browser runs elsewhere). Prints a table and writes JSON.
Default video: ``demo/demo.mp4`` (40 s of real footage, 640×360).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report  # noqa: E402
from pipelines.config import load_config  # noqa: E402
from pipelines.profiles import build_models  # noqa: E402
from pipelines.core.observers import ConsoleObserver, EmbeddingPublisher, StatsPublisher  # noqa: E402
from pipelines.core.runner import run_sources  # noqa: E402
from pipelines.core.selective import SelectivePipeline  # noqa: E402
from streamer.capture.multicapture import MultiCapture  # noqa: E402
from streamer.capture.source_spec import parse_sources  # noqa: E402
from streamer.console.parts import open_console  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.events import status_event  # noqa: E402
from streamer.feed.server import FeedServer  # noqa: E402

SOURCE = "bench"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of each live named thread of this process (the feed server's, the snapshot writer's)."""
    return {t.name: time.clock_gettime(time.pthread_getcpuclockid(t.ident)) for t in threading.enumerate()
            if t.name in ("feed-server", "snapshot-writer")}


def page(port: int, frame_interval_s: float, stop, counts) -> None:
    """A console page's load on the server, from its own process."""
    from websockets.asyncio.client import connect

    base = f"http://127.0.0.1:{port}"

    def fetch(path: str) -> None:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            response.read()

    async def frames() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(fetch, f"/frames/{SOURCE}.jpg")
                counts["frames"] += 1
            except OSError:
                pass  # 404 before the first frame
            await asyncio.sleep(frame_interval_s)

    async def feed() -> None:
        async with connect(f"ws://127.0.0.1:{port}/", origin=base) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe", "types": ["caption", "status", "stats", "embedding"], "from_seq": 0}))
            while not stop.is_set():
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                counts[event["type"]] = counts.get(event["type"], 0) + 1
                if event.get("snapshot"):
                    await asyncio.sleep(0.2)  # the writer's turn
                    try:
                        await asyncio.to_thread(fetch, event["snapshot"])
                        counts["snapshots"] += 1
                    except OSError:
                        counts["snapshot_404"] += 1

    async def main() -> None:
        await asyncio.gather(frames(), feed())

    asyncio.run(main())


def one_run(models, config, video: Path, console: bool, folder: Path) -> dict:
    log_config = EventLogConfig(str(folder / "events.sqlite"))
    log = SqliteEventLog(log_config)
    bus = EventBus(log, sources=[SOURCE], profile=config.model.encoder.network)
    parts = open_console(config.feed.console, config.feed.snapshots, log_config) if console else None
    server = FeedServer(dataclasses.replace(config.feed.server, port=0), bus, parts.routes if parts else ())
    server.start()
    client = None
    if console:
        ctx = mp.get_context("spawn")
        manager = ctx.Manager()
        stop, counts = manager.Event(), manager.dict(frames=0, snapshots=0, snapshot_404=0)
        client = ctx.Process(target=page, args=(server.port, config.feed.console.frame_interval_s, stop, counts))
        client.start()
    pipeline = SelectivePipeline(SOURCE, models, config.clip, config.drift)
    capture_config = dataclasses.replace(config.capture, realtime=True)
    start_cpu = cpu_s()
    with MultiCapture(parse_sources([f"{SOURCE}={video}"]), capture_config, sample_fps=config.sampling.fps,
                      max_side=config.sampling.max_side, on_status=lambda status: bus.publish(status_event(status))) as capture:
        observers = [EmbeddingPublisher(bus.publish), *([ConsoleObserver(parts)] if parts else []),
                     StatsPublisher(bus.publish, config.feed.stats_interval_s)]
        (summary,) = run_sources(capture, {SOURCE: pipeline}, models.encode_frames, bus.publish, observers)
    time.sleep(0.5)  # the last caption's snapshot is written, the page has fetched it
    threads = thread_cpu_s()  # before they end; the feed server's started with the run's first frames
    if parts:
        parts.close()
    used = cpu_s() - start_cpu
    page_counts = {}
    if client is not None:
        stop.set()
        client.join(30)
        page_counts = dict(counts)
        manager.shutdown()
    server.stop()
    log.close()
    steps = list(pipeline.stats.step_ms)
    return {"console": console, "frames": summary.frames, "clips": summary.clips, "captions": summary.captions,
            "dropped_frames": summary.dropped_frames, "cpu_s": round(used, 3),
            "cpu_ms_per_frame": round(used / summary.frames * 1e3, 3),
            "feed_server_cpu_s": round(threads.get("feed-server", 0.0), 4),
            "snapshot_writer_cpu_s": round(threads.get("snapshot-writer", 0.0), 4),
            "step_p50_ms": round(statistics.median(steps), 3), "step_mean_ms": round(statistics.fmean(steps), 3),
            "snapshots_written": parts.snapshots.written if parts else 0,
            "frame_encodes": parts.frames.encodes if parts else 0, "page": page_counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path(__file__).resolve().parents[1] / "demo" / "demo.mp4")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs (without, with), alternating (default 2)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/console.json"))
    args = parser.parse_args()

    config = load_config()
    models = build_models(config.model)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        for i in range(args.repeat):
            for console in (False, True):
                folder = Path(tmp) / f"{i}-{int(console)}"
                folder.mkdir()
                run = one_run(models, config, args.video, console, folder)
                runs.append(run)
                print(f"{'with' if console else 'without':>7}: {run['frames']} frames, {run['captions']} captions, "
                      f"CPU {run['cpu_ms_per_frame']:.2f} ms/frame, step p50 {run['step_p50_ms']:.2f} ms "
                      f"mean {run['step_mean_ms']:.2f} ms; page {run['page']}", file=sys.stderr)

    def mean(key: str, console: bool) -> float:
        return statistics.fmean(r[key] for r in runs if r["console"] is console)

    overhead = {key: round((mean(key, True) / mean(key, False) - 1) * 100, 2)
                for key in ("cpu_ms_per_frame", "step_p50_ms", "step_mean_ms")}
    # The console's own work, counted on the threads that do it: what the feed server spends more
    # (HTTP, the page's subscription) plus the snapshot writer, against the whole run's CPU without.
    added_s = (mean("feed_server_cpu_s", True) - mean("feed_server_cpu_s", False) + mean("snapshot_writer_cpu_s", True))
    overhead["console_threads_cpu"] = round(added_s / mean("cpu_s", False) * 100, 2)
    report = {"video": str(args.video), "repeat": args.repeat, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "target_percent": 5.0, "overhead_percent": overhead,
              "without": {k: round(mean(k, False), 3) for k in ("cpu_ms_per_frame", "step_p50_ms", "step_mean_ms")},
              "with": {k: round(mean(k, True), 3) for k in ("cpu_ms_per_frame", "step_p50_ms", "step_mean_ms")},
              "runs": runs, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_report(args.out, report)
    print(f"console overhead: its threads {overhead['console_threads_cpu']:+.2f} % of the run's CPU; "
          f"whole process CPU per sampled frame {overhead['cpu_ms_per_frame']:+.2f} %, "
          f"step p50 {overhead['step_p50_ms']:+.2f} %, step mean {overhead['step_mean_ms']:+.2f} % (target < 5 %); {args.out}")


if __name__ == "__main__":
    main()
