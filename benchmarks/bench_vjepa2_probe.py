"""What the ``vjepa2`` label bridge adds to a clip: the classifier's attentive probe beside the backbone; prints a table and writes JSON.

    python benchmarks/bench_vjepa2_probe.py [--out bench_vjepa2_probe.json] [--repeats 3] [--frames 16]

A ``VJEPA2ForVideoClassification`` with random weights built from the published
``vjepa2-vitl-fpc16-256-ssv2`` shape (ViT-L: hidden 1024, 24 layers, 16 heads, patch 16, tubelet
2, crop 256; the config's default probe of 3 self-attention layers and one cross-attention
query; 174 classes) — nothing is downloaded, so the figures are costs, not accuracy. Timed per
clip, as the pipeline calls them: the backbone once (``encode_clip``, preprocessing included),
then the probe on all the clip's tokens and on the newest half (a caption's window:
``caption_window_s`` 1 of a 2 s clip). In torch on the CPU, and on CUDA (bf16 autocast) when torch
sees a GPU. Wall-clock medians after one warm-up call; the machine is named in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report  # noqa: E402
from models.encoders import EncoderConfig  # noqa: E402
from models.vjepa2_encoder import VJEPA2ClipEncoder  # noqa: E402
from bench_encoders import VITL, timed  # noqa: E402  (the same ViT-L and timing as the encoder bench)

VITL_SSV2 = {**VITL, "frames_per_clip": 16}  # the SSv2 probe checkpoint: fpc16


def measure(model, device: str, frames: int, repeats: int) -> dict:
    encoder = VJEPA2ClipEncoder(model, EncoderConfig(network="vjepa2", device=device, frames=frames, threads=0))
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(frames)]
    encoded = encoder.encode_clip(clip)
    newest = encoded.tokens[encoded.frame_of_token >= encoded.frame_of_token.max() - frames // 2 + 1]  # the newest half
    return {
        "device": device,
        "tokens": int(len(encoded.tokens)),
        "backbone_encode_clip": timed(lambda: encoder.encode_clip(clip), repeats),
        "probe_all_tokens": timed(lambda: encoder.class_logits(encoded.tokens), repeats),
        "probe_newest_half": {"tokens": int(len(newest)), **timed(lambda: encoder.class_logits(newest), repeats)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_vjepa2_probe.json")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=16)
    args = ap.parse_args()
    import transformers

    torch.manual_seed(0)
    labels = {i: f"class {i}" for i in range(174)}
    config = transformers.VJEPA2Config(**VITL_SSV2, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = transformers.VJEPA2ForVideoClassification(config).eval()
    rows = [measure(model, "cpu", args.frames, args.repeats)]
    if torch.cuda.is_available():
        rows.append(measure(model, "cuda", args.frames, args.repeats))
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "model": "VJEPA2ForVideoClassification, vjepa2-vitl-fpc16-256-ssv2 shape, random weights",
        "frames": args.frames,
        "rows": rows,
    }
    for r in rows:
        b, a, h = r["backbone_encode_clip"]["median_ms"], r["probe_all_tokens"]["median_ms"], r["probe_newest_half"]["median_ms"]
        print(f"{r['device']}: backbone {b:.0f} ms/clip ({r['tokens']} tokens); probe on all tokens {a:.0f} ms "
              f"({100 * a / b:.0f}%), on the newest half {h:.0f} ms ({100 * h / b:.0f}%)")
    write_report(args.out, report)


if __name__ == "__main__":
    main()
