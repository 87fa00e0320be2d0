"""Per-clip latency of each X-encoder network and runtime; prints a table and writes JSON.

    python benchmarks/bench_encoders.py [--out bench_encoders.json] [--repeats 5] [--skip-vitl] [--vitl-frames 16 64]

* ``lite`` in torch and through onnxruntime (CPU provider, or CUDA when present): one 2 s clip
  at 4 fps = 8 frames of 640×360, preprocessing included; also the per-frame cost.
* ``vjepa2`` ViT-L with random weights built from the published ``vjepa2-vitl-fpc64-256`` values
  (hidden 1024, 24 layers, 16 heads, MLP ratio 4, patch 16, tubelet 2, crop 256) — nothing is
  downloaded — at 16 frames (and 64 with ``--vitl-frames 16 64``), in torch on the CPU, and on
  CUDA (bf16 autocast) when torch sees a GPU.

Latencies are wall-clock medians after one warm-up call; the machine is named in the JSON.
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

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report  # noqa: E402
from models.encoders import EncoderConfig  # noqa: E402
from models.lite_encoder import LiteClipEncoder, export_lite  # noqa: E402
from models.registry import open_onnx  # noqa: E402
from models.vjepa2_encoder import VJEPA2ClipEncoder  # noqa: E402

VITL = dict(
    hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4.0,
    patch_size=16, tubelet_size=2, crop_size=256, frames_per_clip=64,
)


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2), "runs": repeats}


def clip_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    from skimage import data

    photo = data.chelsea()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        import cv2

        frame = cv2.resize(photo, (640, 360))
        out.append(np.clip(frame.astype(np.int16) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_encoders.json")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vitl-repeats", type=int, default=2)
    ap.add_argument("--vitl-frames", type=int, nargs="+", default=[16])
    ap.add_argument("--skip-vitl", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch and onnxruntime intra-op threads (0: their defaults)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    cuda = torch.cuda.is_available()
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "results": [],
    }
    rows = report["results"]
    frames8 = clip_frames(8)

    lite = LiteClipEncoder(EncoderConfig(device="cpu", threads=args.threads))  # same threads as onnxruntime
    rows.append({"backend": "lite/torch", "device": "cpu", "clip": "8 frames 640x360", **timed(lambda: lite.encode_clip(frames8), args.repeats)})
    rows.append({"backend": "lite/torch", "device": "cpu", "clip": "1 frame (cached path)", **timed(lambda: lite.encode_frames(frames8[:1]), args.repeats)})
    with tempfile.TemporaryDirectory() as tmp:
        path = export_lite(Path(tmp) / "lite.onnx")
        onnx_cpu = open_onnx(path, EncoderConfig(device="cpu", threads=args.threads))
        rows.append({"backend": "lite/onnx", "device": onnx_cpu.provider, "clip": "8 frames 640x360", **timed(lambda: onnx_cpu.encode_clip(frames8), args.repeats)})
        rows.append({"backend": "lite/onnx", "device": onnx_cpu.provider, "clip": "1 frame (cached path)", **timed(lambda: onnx_cpu.encode_frames(frames8[:1]), args.repeats)})
        if cuda:
            onnx_gpu = open_onnx(path, EncoderConfig(device="cuda"))
            rows.append({"backend": "lite/onnx", "device": onnx_gpu.provider, "clip": "8 frames 640x360", **timed(lambda: onnx_gpu.encode_clip(frames8), args.repeats)})
    if cuda:
        lite_gpu = LiteClipEncoder(EncoderConfig(device="cuda"))
        rows.append({"backend": "lite/torch", "device": "cuda", "clip": "8 frames 640x360", **timed(lambda: lite_gpu.encode_clip(frames8), args.repeats)})

    if not args.skip_vitl:
        from transformers import VJEPA2Config, VJEPA2Model

        torch.manual_seed(0)
        model = VJEPA2Model(VJEPA2Config(**VITL)).eval()
        params = sum(p.numel() for p in model.encoder.parameters())
        for n in args.vitl_frames:
            enc = VJEPA2ClipEncoder(model, EncoderConfig(network="vjepa2", device="cpu", frames=n))
            row = {"backend": "vjepa2/torch (ViT-L, random weights)", "device": "cpu", "clip": f"{n} frames x 256 px",
                   "tokens": enc.tokens_per_clip, "encoder_params_M": round(params / 1e6, 1)}
            rows.append({**row, **timed(lambda: enc.encode_clip(frames8), args.vitl_repeats)})
            if cuda:
                enc_gpu = VJEPA2ClipEncoder(model, EncoderConfig(network="vjepa2", device="cuda", frames=n))
                rows.append({**row, "device": "cuda (bf16 autocast)", **timed(lambda: enc_gpu.encode_clip(frames8), args.repeats)})
                model.cpu()
    if not cuda:
        report["gpu_note"] = "no GPU visible to torch on this machine: GPU rows not measured"

    width = max(len(r["backend"]) for r in rows)
    for r in rows:
        print(f"{r['backend']:<{width}}  {r['device']:<22} {r['clip']:<24} median {r['median_ms']:9.1f} ms  (min {r['min_ms']:.1f})")
    if "gpu_note" in report:
        print(report["gpu_note"])
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
