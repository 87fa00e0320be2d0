"""INT8 quantization of the lite ONNX export (onnxruntime.quantization): speed and agreement with torch.

    python benchmarks/bench_int8.py [--out bench-out/int8] [--video FILE]

Writes ``lite-fp32.onnx``, ``lite-int8-dynamic.onnx`` (weights only) and ``lite-int8-static.onnx``
(QDQ, per-channel weights, activations calibrated on the demo's frames and scikit-image's photos)
into ``--out``, then measures on the sampled frames of ``--video`` (default: the real-footage
multi-scene video) the per-frame latency on one thread and the agreement with torch: cosine of
the features and agreement of the ImageNet top-1 class (what the label bridge and the captions
read). The decisions are compared by running the CLI with an exported file, e.g.

    jepa-stream bench bench-videos/real/*.mp4 --no-peers --model OUT/lite-int8-static.onnx

Writes ``OUT/int8.json``. INT8 is not the default: see the README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import write_report  # noqa: E402
from models.encoders import EncoderConfig  # noqa: E402
from models.lite_encoder import LiteClipEncoder, LiteFrameEncoder, export_lite  # noqa: E402
from models.registry import open_onnx  # noqa: E402
from streamer.capture.sources import VideoFileSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sampled_frames(path: Path, fps: float) -> list[np.ndarray]:
    source = VideoFileSource(path, sample_fps=fps, max_side=640)
    source.open()
    try:
        return [f.image for f in source.frames()]
    finally:
        source.close()


def quantize(out: Path) -> dict[str, Path]:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from skimage import data

    fp32 = export_lite(out / "lite-fp32.onnx")
    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    pre = out / "lite-pre.onnx"
    quant_pre_process(str(fp32), str(pre))
    paths = {"onnx fp32": fp32, "onnx int8 dynamic": out / "lite-int8-dynamic.onnx", "onnx int8 static": out / "lite-int8-static.onnx"}
    quantize_dynamic(str(pre), str(paths["onnx int8 dynamic"]), weight_type=QuantType.QInt8)

    prep = LiteFrameEncoder(224, 1)
    calibration = sampled_frames(ROOT / "demo" / "demo.mp4", 1.0)
    for name in ("chelsea", "coffee", "rocket", "astronaut", "camera"):
        image = getattr(data, name)()
        calibration.append(np.stack([image] * 3, -1) if image.ndim == 2 else image)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"images": prep.preprocess(f)[None]} for f in calibration])  # (1, 3, S, S)

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(pre), str(paths["onnx int8 static"]), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    for path in paths.values():  # the quantizer drops the metadata that names the network
        model = onnx.load(str(path))
        del model.metadata_props[:]
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(path))
    pre.unlink()
    return paths


def frame_ms(fn, frames: list[np.ndarray]) -> float:
    fn(frames[:1])  # warm-up
    times = []
    for frame in frames[:40]:
        start = time.perf_counter()
        fn([frame])
        times.append((time.perf_counter() - start) * 1e3)
    return round(statistics.median(times), 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out/int8"))
    ap.add_argument("--video", type=Path, default=ROOT / "bench-videos" / "real" / "real_multiscene.mp4")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    paths = quantize(args.out)
    frames = sampled_frames(args.video, 0.5)
    config = EncoderConfig(device="cpu", threads=1)
    torch_enc = LiteClipEncoder(config)
    want = torch_enc.encode_frames(frames)
    want_top1 = torch_enc.class_logits(want).argmax(-1)
    rows = {"torch": {"frame_ms_p50": frame_ms(torch_enc.encode_frames, frames)}}
    for name, path in paths.items():
        enc = open_onnx(path, config)
        got = enc.encode_frames(frames)
        cos = (got * want).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        rows[name] = {
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "frame_ms_p50": frame_ms(enc.encode_frames, frames),
            "cosine_min": round(float(cos.min()), 5),
            "cosine_mean": round(float(cos.mean()), 5),
            "top1_agreement": round(float((enc.class_logits(got).argmax(-1) == want_top1).mean()), 3),
        }
    report = {"video": str(args.video), "frames": len(frames), "threads": 1, "results": rows}
    for name, row in rows.items():
        print(f"{name:<18} " + ", ".join(f"{k} {v}" for k, v in row.items()))
    write_report(args.out / "int8.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
