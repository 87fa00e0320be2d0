"""Capture overhead: frames per second through the capture thread versus raw PyAV decoding.

Both sides decode the same file in the same run with the same decoder threading, sampling and
RGB conversion; the only difference is the capture path (a :class:`CaptureThread` and its
bounded queue, or the :class:`MultiCapture` fan-in on top). Each path runs ``--repeats`` times,
interleaved, and the best run counts (the least disturbed by other work on the machine).

    python benchmarks/bench_capture.py --out bench-out/capture.json
    python benchmarks/bench_capture.py --video demo/demo.mp4 --sample-fps 4

Prints one line per path and writes JSON: ``{"video": …, "runs": {path: [fps, …]},
"best_fps": {path: fps}, "ratio": {path: best / raw best}, "median_fps": …, "median_ratio": …}``.
Frames per second counts frames delivered (after sampling). The aim is a ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # videokit, the tests' video maker

from benchkit import write_report  # noqa: E402
from streamer.capture.thread import CaptureThread  # noqa: E402
from streamer.worker import OverflowPolicy  # noqa: E402
from streamer.capture.capture_config import CaptureConfig  # noqa: E402
from streamer.capture.frames import Frame  # noqa: E402
from streamer.capture.sources import frame_to_rgb  # noqa: E402
from streamer.capture.multicapture import MultiCapture  # noqa: E402
from streamer.capture.source_spec import SourceKind, SourceSpec  # noqa: E402
from streamer.capture.sources import RateSampler, VideoFileSource  # noqa: E402


def raw(path: Path, sample_fps: float, max_side: int) -> int:
    """Decode with PyAV on this thread, converting the frames a sampler keeps; return how many."""
    kept = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sampler = RateSampler(sample_fps)
        for vf in container.decode(stream):
            if sampler.keep(vf.time or 0.0):
                frame_to_rgb(vf, max_side)
                kept += 1
    return kept


def capture_thread(path: Path, sample_fps: float, max_side: int, buffer_size: int) -> int:
    source = VideoFileSource(path, "bench", sample_fps=sample_fps, max_side=max_side)
    thread = CaptureThread(source, buffer_size=buffer_size, policy=OverflowPolicy.WAIT).start()
    kept = sum(isinstance(item, Frame) for item in thread.frames())
    thread.stop()
    return kept


def multicapture(path: Path, sample_fps: float, max_side: int, buffer_size: int) -> int:
    spec = SourceSpec("bench", SourceKind.FILE, str(path))
    with MultiCapture([spec], CaptureConfig(buffer_size=buffer_size), sample_fps=sample_fps, max_side=max_side) as cap:
        return sum(isinstance(item, Frame) for item in cap)


def make_video(folder: Path) -> Path:
    import skimage.data

    from videokit import Shot, write_video

    path = folder / "bench.mp4"
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket(), skimage.data.astronaut()]
    write_video(path, [Shot(p, 5.0, zoom=(1.0, 0.7), pan=0.6) for p in photos], size=(640, 360), fps=25)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to decode (default: a generated 20 s, 640×360, 25 fps clip)")
    parser.add_argument("--sample-fps", type=float, default=0.0, help="frames kept per second; 0 keeps all (default)")
    parser.add_argument("--max-side", type=int, default=640, help="longer side of converted frames (default 640)")
    parser.add_argument("--buffer-size", type=int, default=CaptureConfig().buffer_size)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or make_video(Path(tmp))
        paths = {
            "raw_pyav": lambda: raw(video, args.sample_fps, args.max_side),
            "capture_thread": lambda: capture_thread(video, args.sample_fps, args.max_side, args.buffer_size),
            "multicapture": lambda: multicapture(video, args.sample_fps, args.max_side, args.buffer_size),
        }
        runs: dict[str, list[float]] = {name: [] for name in paths}
        counts: dict[str, int] = {}
        paths["raw_pyav"]()  # warm-up: file cache, codec init
        for _ in range(args.repeats):
            for name, run in paths.items():
                start = time.perf_counter()
                counts[name] = run()
                runs[name].append(counts[name] / (time.perf_counter() - start))
        if len(set(counts.values())) != 1:
            print(f"frame counts differ between paths: {counts}", file=sys.stderr)
            return 1
        best = {name: max(fps) for name, fps in runs.items()}
        median = {name: statistics.median(fps) for name, fps in runs.items()}
        ratio = {name: best[name] / best["raw_pyav"] for name in paths}
        median_ratio = {name: median[name] / median["raw_pyav"] for name in paths}
        for name in paths:
            print(
                f"{name:15s} best {best[name]:7.1f} frames/s  ratio {ratio[name]:.3f}  "
                f"(median {median[name]:7.1f}, ratio {median_ratio[name]:.3f})"
            )
        result = {
            "video": str(args.video or "generated 20 s 640x360 25 fps H.264"),
            "frames": counts["raw_pyav"],
            "sample_fps": args.sample_fps,
            "max_side": args.max_side,
            "buffer_size": args.buffer_size,
            "runs": runs,
            "best_fps": best,
            "ratio": ratio,
            "median_fps": median,
            "median_ratio": median_ratio,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "pyav": av.__version__},
        }
    if args.out:
        write_report(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
