"""One machine used fully: eight file cameras with one encoder thread, then with the encode pool.

First the encoder alone: one batch of eight 640x360 frames (one per camera, as the run loop
encodes them) through the ``lite`` encoder of the default runtime with one call of one thread,
with the encode pool (two threads of one thread each) and with one call of two intra-op threads
(``model.encoder.threads: 2``), interleaved, the median of ``--rounds`` each.

Then it generates eight 640x360, 25 fps videos of changing scenes (photos from scikit-image) and runs
``jepa-stream run --no-feed`` on all eight at once, at real time, with ``model.encoder.workers: 1``
(one encoder call at a time: the state before :mod:`pipelines.encode_pool`) and with the
default ``workers: 0`` (one per core). For each it reports the slowest camera's realtime factor,
the frames dropped per camera, and the CPU the process used (user + system over wall time, in %
of one core). Then it analyses the same eight files as fast as possible (``--no-realtime``: no
frame dropped) with each setting and checks that the captions are the same, text and time.

Usage: ``python benchmarks/bench_encode_pool.py [--seconds 20] [--cameras 8] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchkit import write_report  # noqa: E402
from videokit import Shot, write_video  # noqa: E402

_SUMMARY = re.compile(r"^(\S+): [\d.]+ s analysed in [\d.]+ s \(([\d.]+)x real time\).*?(?:; (\d+) frames? dropped)?$")


def write_cameras(folder: Path, count: int, seconds: float) -> list[Path]:
    import skimage.data

    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket(), skimage.data.astronaut()]
    paths = []
    for i in range(count):
        paths.append(folder / f"cam{i}.mp4")
        shots = [Shot(photos[(i + k) % 4], seconds / 2, pan=0.5 - k, seed=i) for k in range(2)]
        write_video(paths[-1], shots, size=(640, 360), fps=25)
    return paths


def encoder_alone(cameras: list[Path], rounds: int) -> dict:
    """Median milliseconds per batch of one frame per camera, for each way of encoding it."""
    import av

    from models.encoders import EncoderConfig
    from models.registry import build_encoder
    from pipelines.encode_pool import EncodePool

    frames = []
    for path in cameras:
        with av.open(str(path)) as video:
            frames.append(next(video.decode(video=0)).to_ndarray(format="rgb24"))
    one, two = build_encoder(EncoderConfig(threads=1)), build_encoder(EncoderConfig(threads=2))
    pool = EncodePool(one.encode_frames, workers=2)
    ways = {"one call, 1 thread": one.encode_frames, "encode pool, 2 workers": pool, "one call, 2 threads": two.encode_frames}
    times = {name: [] for name in ways}
    for _ in range(rounds + 1):  # the first round warms up
        for name, encode in ways.items():
            started = time.perf_counter()
            encode(frames)
            times[name].append((time.perf_counter() - started) * 1e3)
    pool.close()
    return {name: round(statistics.median(t[1:]), 1) for name, t in times.items()}


def run(cameras: list[Path], folder: Path, workers: int, realtime: bool) -> dict:
    """One ``run --no-feed`` over every camera; its summaries, CPU and captions."""
    config = folder / f"w{workers}.yaml"
    config.write_text(f"model:\n  encoder:\n    workers: {workers}\nfeed:\n  log:\n    path: {folder / 'log.sqlite'}\n")
    events = folder / f"w{workers}-{'rt' if realtime else 'fast'}.jsonl"
    command = [sys.executable, "-m", "pipelines.cli", "run", "--no-feed", "--config", str(config),
               "--events-out", str(events), "--overwrite", *(["--no-realtime"] if not realtime else [])]
    for i, path in enumerate(cameras):
        command += ["--source", f"cam{i}={path}"]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    wall, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    summaries = {}
    for line in done.stdout.splitlines():
        match = _SUMMARY.match(line)
        if match:
            summaries[match[1]] = {"realtime": float(match[2]), "dropped": int(match[3] or 0)}
    captions = sorted((e["source"], e["t"], e["text"]) for e in map(json.loads, events.read_text().splitlines())
                      if e["type"] == "caption")
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall * 100
    return {"workers": workers, "realtime": realtime, "wall_s": round(wall, 1), "cpu_percent": round(cpu),
            "slowest_realtime_factor": min(s["realtime"] for s in summaries.values()),
            "dropped_per_camera": [summaries[f"cam{i}"]["dropped"] for i in range(len(cameras))],
            "captions": captions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each video")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20, help="batches per way in the encoder-alone phase")
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-encode-pool-") as tmp:
        folder = Path(tmp)
        cameras = write_cameras(folder, args.cameras, args.seconds)
        alone = encoder_alone(cameras, args.rounds)
        print("encoder alone, ms per batch of", args.cameras, "frames:", alone, flush=True)
        live = [run(cameras, folder, workers, realtime=True) for workers in (1, 0)]
        fast = [run(cameras, folder, workers, realtime=False) for workers in (1, 0)]
    for result in live:
        print(f"workers {result['workers']} ({'one per core' if result['workers'] == 0 else 'one encoder call'}): "
              f"slowest camera {result['slowest_realtime_factor']:.2f}x real time, dropped per camera "
              f"{result['dropped_per_camera']}, CPU {result['cpu_percent']} % of one core")
    same = fast[0]["captions"] == fast[1]["captions"]
    print(f"captions without drops: {len(fast[0]['captions'])} with workers 1, {len(fast[1]['captions'])} with "
          f"workers 0; {'identical' if same else 'DIFFERENT'}")
    figures = {"cameras": args.cameras, "seconds": args.seconds, "size": "640x360", "fps": 25, "encoder_alone_ms": alone,
               "live": [{k: v for k, v in r.items() if k != "captions"} for r in live],
               "captions_identical_without_drops": same, "captions": len(fast[0]["captions"]),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average": os.getloadavg()}
    if args.out:
        write_report(args.out, figures)


if __name__ == "__main__":
    main()
