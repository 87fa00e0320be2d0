"""One X-encoder interface for every backend: the frames of a clip in, visual tokens and a pooled vector out.

Exports :class:`EncoderBackend`, :class:`Device`, :class:`DType`, :class:`EncoderConfig`,
:class:`EncodedClip`, :class:`ClipEncoder`, :class:`LiteClipEncoder`, :func:`per_frame_clip`,
:func:`resolve_device`, :func:`resolve_dtype` and :func:`build_encoder`.

Backends (``encoder.backend``):

* ``lite`` — EfficientNet-Lite0 in torch, one token per frame (``models/lite_encoder.py``).
* ``vjepa2`` — V-JEPA 2 through ``transformers.VJEPA2Model`` (``models/vjepa2_encoder.py``).
* ``onnx`` — the profile's network (``lite`` or ``vjepa2``) exported to ONNX and run by
  onnxruntime, CUDA execution provider when present, CPU otherwise (``models/onnx_encoder.py``).

Every encoder has ``encode_clip(frames) -> EncodedClip``. An encoder whose tokens are one per
frame, computed independently (``lite`` in torch or ONNX), also has ``encode_frames(frames) ->
(N, F)``: the pipeline then encodes each frame once and caches it across overlapping windows.
Encoders that see the clip as a whole (``vjepa2``) set ``encode_frames`` to ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

__all__ = [
    "EncoderBackend",
    "Device",
    "DType",
    "EncoderConfig",
    "EncodedClip",
    "ClipEncoder",
    "LiteClipEncoder",
    "per_frame_clip",
    "resolve_device",
    "resolve_dtype",
    "build_encoder",
]


class EncoderBackend(str, Enum):
    LITE = "lite"
    VJEPA2 = "vjepa2"
    ONNX = "onnx"


class Device(str, Enum):
    AUTO = "auto"  # CUDA when torch sees a GPU, else CPU
    CPU = "cpu"
    CUDA = "cuda"


class DType(str, Enum):
    AUTO = "auto"  # bfloat16 autocast on CUDA (float16 where bf16 is unsupported), float32 on CPU
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


@dataclass(frozen=True)
class EncoderConfig:
    """``backend``: ``lite``, ``vjepa2`` or ``onnx`` (the profile's network through onnxruntime).
    ``model``: for ``vjepa2``, a Hugging Face model id or a local directory (default
    ``facebook/vjepa2-vitl-fpc64-256``); for ``onnx``, an exported ``.onnx`` file (empty: export
    on first use into the cache). ``device``/``dtype``: where and in what precision the network
    runs (``auto``: CUDA with bf16 autocast when available, else CPU float32).
    ``image_size``: the ``lite`` crop (224 for the packaged weights); ``vjepa2`` always takes its
    crop size from the checkpoint. ``frames``: frames per ``vjepa2`` clip (0: the checkpoint's
    ``frames_per_clip``). ``threads``: intra-op threads of the encoder's runtime (0: one per core).
    The default is 1: the capture thread needs a core too, and on a small shared CPU two
    spinning OpenMP threads fall over as soon as anything else runs (measured: 12x real time
    alone, under 1x beside another busy process, where one thread kept 9x)."""

    backend: EncoderBackend = EncoderBackend.LITE
    model: str = ""
    device: Device = Device.AUTO
    dtype: DType = DType.AUTO
    image_size: int = 224
    frames: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name, kind in (("backend", EncoderBackend), ("device", Device), ("dtype", DType)):
            object.__setattr__(self, name, kind(getattr(self, name)))  # "cpu" → Device.CPU, for callers in code
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be within 32..1024, got {self.image_size}")
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (one per core) or positive, got {self.threads}")
        if self.frames < 0 or self.frames == 1:
            raise ValueError(f"frames must be 0 (the checkpoint's) or at least 2, got {self.frames}")


@dataclass(frozen=True)
class EncodedClip:
    """``tokens (N, F)`` float32 visual tokens, ``pooled (F,)`` their mean, and ``frame_of_token (N,)``:
    the index (into the frames given) of the newest frame each token row covers, so a caller can
    take the tokens of the newest frames of a clip."""

    tokens: np.ndarray
    pooled: np.ndarray
    frame_of_token: np.ndarray


class ClipEncoder(Protocol):
    name: str  # backend and network, e.g. "lite/torch", "vjepa2/torch", "lite/onnx"
    dim: int  # F, the width of a token
    device: str  # "cpu" or "cuda" (or the execution provider an onnx encoder uses)
    encode_frames: Callable[[Sequence[np.ndarray]], np.ndarray] | None  # per-frame fast path, or None

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip: ...


def per_frame_clip(features: np.ndarray) -> EncodedClip:
    """An :class:`EncodedClip` from per-frame features ``(T, F)``: one token per frame."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    return EncodedClip(features, features.mean(axis=0), np.arange(len(features)))


def resolve_device(device: Device) -> str:
    import torch

    if device is Device.CUDA and not torch.cuda.is_available():
        raise ValueError("encoder.device is cuda but torch sees no CUDA device")
    if device is Device.AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device.value


def resolve_dtype(dtype: DType, device: str):
    """The autocast dtype on CUDA (``None``: plain float32)."""
    import torch

    if device != "cuda" or dtype is DType.FLOAT32:
        if device != "cuda" and dtype in (DType.BFLOAT16, DType.FLOAT16):
            raise ValueError(f"encoder.dtype {dtype.value} needs CUDA; on the CPU use float32 or auto")
        return None
    if dtype is DType.AUTO:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {DType.BFLOAT16: torch.bfloat16, DType.FLOAT16: torch.float16}[dtype]


class LiteClipEncoder:
    """The ``lite`` torch encoder behind the clip interface; ``encode_frames`` is the fast path."""

    def __init__(self, config: EncoderConfig, network=None):
        from models.lite_encoder import LiteFrameEncoder

        self.device = resolve_device(config.device)
        self.frame_encoder = LiteFrameEncoder(config.image_size, config.threads, network, self.device)
        self.name = "lite/torch"
        self.dim = self.frame_encoder.dim
        self.encode_frames = self.frame_encoder.encode_frames  # (N, H, W, 3) uint8 → (N, 1280)
        self.class_logits = self.frame_encoder.class_logits

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        return per_frame_clip(self.encode_frames(frames))


def build_encoder(config: EncoderConfig, network: str = "lite") -> ClipEncoder:
    """The encoder ``config.backend`` names; ``network`` says which network an ``onnx`` backend runs."""
    if config.backend is EncoderBackend.LITE:
        return LiteClipEncoder(config)
    if config.backend is EncoderBackend.VJEPA2:
        from models.vjepa2_encoder import VJEPA2ClipEncoder

        return VJEPA2ClipEncoder.from_config(config)
    from models.onnx_encoder import OnnxClipEncoder

    return OnnxClipEncoder.from_config(config, network)
