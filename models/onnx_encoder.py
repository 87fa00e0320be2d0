"""The ``onnx`` backend: the ``lite`` or ``vjepa2`` X-encoder exported to ONNX and run by onnxruntime.

Exports :class:`OnnxClipEncoder`, :func:`export_lite`, :func:`export_vjepa2`, :func:`export_for`,
:func:`default_onnx_path` and :func:`choose_providers`.

Exported graphs take a float32 batch with a dynamic batch axis (opset :data:`OPSET`):

* ``lite``: ``images (B, 3, S, S)`` → ``features (B, 1280)``; preprocessing and the ImageNet head
  (for the label bridge) stay in numpy/torch, so tokens are the same as the torch backend's.
* ``vjepa2``: ``pixel_values_videos (B, T, 3, crop, crop)`` → ``tokens (B, N, hidden)``; ``T`` and
  ``crop`` are fixed at export and stored, with the patch and tubelet sizes, in the model's
  metadata, so the runtime needs no checkpoint.

The runtime uses the CUDA execution provider when onnxruntime offers it and a GPU is visible
(``encoder.device`` ``auto`` or ``cuda``), the CPU provider otherwise; ``provider`` says which.
Graphs run in float32 (``encoder.dtype`` applies to the torch backends only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.encoders import Device, EncodedClip, EncoderConfig, per_frame_clip

__all__ = ["OPSET", "OnnxClipEncoder", "export_lite", "export_vjepa2", "export_for", "default_onnx_path", "choose_providers"]

OPSET = 18
log = logging.getLogger(__name__)


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str, meta: dict) -> Path:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape arithmetic
        torch.onnx.export(
            module.eval(),
            (example,),
            str(tmp),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    # Metadata only: tensors a >2 GB export left in external files beside it stay there, untouched.
    model = onnx.load(str(tmp), load_external_data=False)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(tmp))
    os.replace(tmp, path)  # a crashed export never leaves a half-written file under the real name
    return path


class _LiteFeatures(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.features(images)  # (B, 3, S, S) → (B, 1280)


class _VJEPA2Tokens(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values_videos=pixel_values_videos).last_hidden_state  # (B, N, hidden)


def export_lite(path: str | Path, image_size: int = 224, network=None) -> Path:
    """Export the ``lite`` feature network (default: the packaged weights) to ``path``."""
    from models.efficientnet_lite import load_lite0

    network = network if network is not None else load_lite0()
    example = torch.zeros(2, 3, image_size, image_size)
    meta = {"jepa_stream.network": "lite", "image_size": image_size, "dim": network.feature_dim}
    return _export(_LiteFeatures(network), example, Path(path), "images", "features", meta)


def export_vjepa2(path: str | Path, model, frames: int = 0) -> Path:
    """Export a ``VJEPA2Model``'s encoder (clips of ``frames`` frames, default the checkpoint's) to ``path``."""
    c = model.config
    frames = frames or int(c.frames_per_clip)
    patch = int(c.patch_size if isinstance(c.patch_size, int) else c.patch_size[0])
    example = torch.zeros(1, frames, 3, c.crop_size, c.crop_size)
    meta = {
        "jepa_stream.network": "vjepa2",
        "crop_size": c.crop_size,
        "patch_size": patch,
        "tubelet_size": c.tubelet_size,
        "frames": frames,
        "dim": c.hidden_size,
    }
    return _export(_VJEPA2Tokens(model.float().cpu()), example, Path(path), "pixel_values_videos", "tokens", meta)


def default_onnx_path(network: str, config: EncoderConfig) -> Path:
    """Where an export-on-first-use file goes: ``$XDG_CACHE_HOME/jepa-stream/onnx/<network>-<key>.onnx``."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jepa-stream" / "onnx"
    if network == "lite":
        ident = {"network": "lite", "image_size": config.image_size, "opset": OPSET}
    else:
        ident = {"network": "vjepa2", "model": config.model or "facebook/vjepa2-vitl-fpc64-256", "frames": config.frames, "opset": OPSET}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{network}-{key}.onnx"


def export_for(network: str, config: EncoderConfig, path: str | Path | None = None) -> Path:
    """Export ``network`` (``lite`` or ``vjepa2``) as ``config`` describes it, to ``path`` or the cache."""
    path = Path(path) if path else default_onnx_path(network, config)
    if network == "lite":
        return export_lite(path, config.image_size)
    from models.vjepa2_encoder import load_vjepa2

    return export_vjepa2(path, load_vjepa2(config.model), config.frames)


def choose_providers(device: Device) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device is Device.CPU:
        return ["CPUExecutionProvider"]
    gpu = "CUDAExecutionProvider" in available and torch.cuda.is_available()
    if device is Device.CUDA and not gpu:
        raise ValueError("encoder.device is cuda but onnxruntime has no usable CUDA execution provider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]


class OnnxClipEncoder:
    """An exported encoder behind the clip interface. ``provider`` is the execution provider in use."""

    def __init__(self, path: str | Path, config: EncoderConfig = EncoderConfig(), threads: int = 0):
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        if threads or config.threads:
            options.intra_op_num_threads = threads or config.threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options, providers=choose_providers(config.device))
        self.provider = self.session.get_providers()[0]
        self.device = self.provider
        meta = self.session.get_modelmeta().custom_metadata_map
        self.network = meta.get("jepa_stream.network")
        if self.network not in ("lite", "vjepa2"):
            raise ValueError(f"{self.path}: not an encoder exported by jepa-stream (no jepa_stream.network metadata)")
        self.meta = meta
        self.dim = int(meta["dim"])
        self.input_name = self.session.get_inputs()[0].name
        self.name = f"{self.network}/onnx"
        if self.network == "lite":
            from models.lite_encoder import LiteFrameEncoder

            # The torch network is kept for its preprocessing and ImageNet head (label bridge).
            self._lite = LiteFrameEncoder(int(meta["image_size"]), config.threads)
            self.encode_frames = self._encode_frames
        else:
            self.crop, self.patch = int(meta["crop_size"]), int(meta["patch_size"])
            self.tubelet, self.frames = int(meta["tubelet_size"]), int(meta["frames"])
            self.encode_frames = None
        log.info("onnx encoder %s runs on %s", self.path, self.provider)

    @classmethod
    def from_config(cls, config: EncoderConfig, network: str) -> "OnnxClipEncoder":
        """The file ``config.model`` names, or the cached export of ``network`` (exported now if missing)."""
        if config.model.endswith(".onnx"):
            path = Path(config.model)
            if not path.is_file():
                raise FileNotFoundError(f"encoder.model {path}: no such ONNX file (create it with `jepa-stream export-onnx`)")
        else:
            inner = EncoderConfig(model=config.model, image_size=config.image_size, frames=config.frames)
            path = default_onnx_path(network, inner)
            if not path.is_file():
                log.warning("exporting the %s encoder to %s (first use)", network, path)
                export_for(network, inner, path)
        return cls(path, config)

    def _encode_frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        if not frames:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.stack([self._lite.preprocess(im) for im in frames])  # (N, 3, S, S)
        return self.session.run(None, {self.input_name: batch})[0]  # (N, 1280)

    def class_logits(self, features: np.ndarray) -> np.ndarray:
        if self.network != "lite":
            raise ValueError("class logits exist for the lite network only")
        return self._lite.class_logits(features)

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        if self.network == "lite":
            return per_frame_clip(self._encode_frames(frames))
        from models.vjepa2_encoder import preprocess_clip, resample_indices

        index = resample_indices(len(frames), self.frames)
        pixels = preprocess_clip([frames[i] for i in index], self.crop).numpy()  # (1, T, 3, crop, crop)
        tokens = self.session.run(None, {self.input_name: pixels})[0][0]  # (N, hidden)
        newest = index[self.tubelet - 1 :: self.tubelet]
        frame_of_token = np.repeat(newest, (self.crop // self.patch) ** 2)  # (N,)
        return EncodedClip(tokens, tokens.mean(axis=0), frame_of_token)
