"""Failover benchmark: how long a killed worker's cameras go unanalysed.

A real ``nats-server`` (JetStream, loopback, temporary store) and two ``jepa-stream run --bus``
workers share four file cameras (small generated videos at real time). Once they split the
cameras two and two, one worker is SIGKILLed; the failover time is from the kill to the
survivor's first caption of the last of the killed worker's cameras (the survivor's first clip of
a camera always decodes). A fresh worker then joins, the cameras are split again, and the next
kill follows. The lease timeout is the configuration's (default 10 s), so the figure is
lease expiry (at most ``lease_timeout_s`` after the last renewal) + the survivor's next lease round
(every third of it) + one clip window + the loop's reaction.

At the end it reads what the workers stored in the site's stream (``JEPA_site``): the number of
logged events of each type, the stream's bytes per event, and the captions per camera-minute of
analysis (every camera is analysed by exactly one worker all along, except during failovers), the
figures the capacity model in docs/SCALING.md starts from.

Usage: ``python benchmarks/bench_failover.py [--kills 5] [--lease-s 10] [--out FILE]``.
Prints each kill and the median and maximum; with ``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchkit import write_report  # noqa: E402
from natskit import NatsServer  # noqa: E402
from workerkit import first_caption_after, running_workers, split_evenly, wait_for, write_cameras  # noqa: E402


def _photos() -> dict:
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in ("chelsea", "coffee", "rocket", "camera")}


def one_kill(url: str, folder: Path, cameras: list[Path], survivor: str, victim: str, lease_s: float) -> float:
    """Start ``survivor`` and ``victim``, wait for an even split, kill the victim; the failover seconds."""
    with running_workers(url, folder, cameras, survivor, victim, lease_s=lease_s) as (a, b):
        wait_for(lambda: split_evenly(a, b), "two workers split four cameras", timeout_s=300)
        lost = b.held()
        killed_at = time.time()
        b.proc.send_signal(signal.SIGKILL)
        resumed = wait_for(lambda: all(first_caption_after(a, c, killed_at) for c in lost)
                           and [first_caption_after(a, c, killed_at) for c in lost], "failover", timeout=120)
        return max(resumed) - killed_at


def stream_figures(url: str, camera_s: float) -> dict:
    """What the stream holds: events by type, bytes per event, captions per camera-minute."""
    import nats

    async def read() -> dict:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info("JEPA_site", subjects_filter="jepa.site.>")
        finally:
            await nc.close()
        by_type: dict[str, int] = {}
        for subject, count in (info.state.subjects or {}).items():
            by_type[subject.rsplit(".", 1)[1]] = by_type.get(subject.rsplit(".", 1)[1], 0) + count
        return {"events": info.state.messages, "bytes": info.state.bytes, "by_type": by_type,
                "bytes_per_event": round(info.state.bytes / max(1, info.state.messages)),
                "captions_per_camera_minute": round(by_type.get("caption", 0) / (camera_s / 60), 2)}

    return asyncio.run(read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--lease-s", type=float, default=10.0, help="cluster.lease_timeout_s (default 10)")
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        folder = Path(tmp)
        cameras = write_cameras(folder, _photos(), shot_s=20.0, shots=9)  # 3 minutes each: longer than a cycle
        server = NatsServer(folder / "nats").start()
        try:
            times, started = [], time.monotonic()
            for i in range(args.kills):
                run = folder / f"run{i}"
                run.mkdir()
                times.append(one_kill(server.url, run, cameras, f"survivor{i}", f"victim{i}", args.lease_s))
                print(f"kill {i + 1}: cameras analysed again after {times[-1]:.2f} s", flush=True)
            stored = stream_figures(server.url, camera_s=4 * (time.monotonic() - started))  # an upper bound of camera time
        finally:
            server.stop()
    figures = {
        "lease_timeout_s": args.lease_s, "kills": args.kills, "failover_s": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2), "stream": stored,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
    }
    print(f"failover over {args.kills} kills (lease {args.lease_s:g} s): median {figures['median_s']:.2f} s, "
          f"max {figures['max_s']:.2f} s")
    print(f"stream: {stored['events']} events {stored['by_type']}, {stored['bytes_per_event']} bytes per event, "
          f"at least {stored['captions_per_camera_minute']} captions per camera-minute")
    if args.out:
        write_report(args.out, figures)


if __name__ == "__main__":
    main()
