"""Replay throughput of the embedded ``lite`` profile: realtime factor and per-stage latency.

    python benchmarks/bench_replay.py [--video FILE] [--repeat N] [--out FILE.json]

Without ``--video`` it renders the 640×360, 25 fps demo shots to a temporary file. It measures,
in one process on the same file: raw PyAV decoding (every frame), model loading, and full
replays through the same capture thread and runner as ``jepa-stream replay`` (decode + sample +
encode + predict + drift + decode-on-fire). Prints the figures and writes them as JSON.
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
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # videokit, the tests' video maker

from pipelines.config import load_config  # noqa: E402
from pipelines.profiles import build_models  # noqa: E402
from pipelines.core.runner import run_sources  # noqa: E402
from pipelines.core.selective import SelectivePipeline  # noqa: E402
from streamer.capture.multicapture import MultiCapture  # noqa: E402
from streamer.capture.source_spec import parse_sources  # noqa: E402


def raw_decode_s(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = sum(1 for _ in container.decode(stream))
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to replay (default: the demo shots rendered at 640x360 25 fps)")
    parser.add_argument("--config", help="YAML laid over the defaults")
    parser.add_argument("--repeat", type=int, default=3, help="replays to time (default 3)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/replay.json"))
    args = parser.parse_args()

    video = args.video
    if video is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
        from make_demo import demo_shots
        from videokit import write_video

        video = Path(tempfile.mkdtemp()) / "bench.mp4"
        write_video(video, demo_shots(), size=(640, 360), fps=25)

    config = load_config(args.config)
    decode_s, decoded_frames = raw_decode_s(video)
    t0 = time.perf_counter()
    models = build_models(config.model)
    load_s = time.perf_counter() - t0

    runs = []
    for i in range(args.repeat):
        specs = parse_sources([f"bench={video}"])
        pipeline = SelectivePipeline("bench", models, config.clip, config.drift)
        with MultiCapture(specs, config.capture, sample_fps=config.sampling.fps, max_side=config.sampling.max_side) as capture:
            (summary,) = run_sources(capture, {"bench": pipeline}, models.encode_frames, lambda event: None)
        runs.append((summary, list(pipeline.stats.step_ms), list(pipeline.stats.decode_ms)))
        print(f"run {i + 1}/{args.repeat}: {summary.realtime_factor:.2f}x real time", file=sys.stderr)

    step_ms = np.concatenate([np.asarray(r[1]) for r in runs])
    decode_ms = np.concatenate([np.asarray(r[2]) for r in runs])
    media_s = runs[0][0].media_s
    result = {
        "video": str(video),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "decoded_frames": decoded_frames,
        "raw_decode_s": round(decode_s, 3),
        "raw_decode_realtime_factor": round(media_s / decode_s, 2),
        "model_load_s": round(load_s, 3),
        "media_s": media_s,
        "clips": runs[0][0].clips,
        "captions": runs[0][0].captions,
        "realtime_factor": {
            "median": round(statistics.median(r[0].realtime_factor for r in runs), 2),
            "min": round(min(r[0].realtime_factor for r in runs), 2),
        },
        "step_ms": {q: round(float(np.percentile(step_ms, p)), 2) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))},
        "decode_ms": {q: round(float(np.percentile(decode_ms, p)), 3) for q, p in (("p50", 50), ("p95", 95))},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
