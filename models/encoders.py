"""One X-encoder interface for every network and runtime: the frames of a clip in, visual tokens and a pooled vector out.

Exports :class:`Runtime`, :class:`Device`, :class:`DType`, :class:`EncoderConfig`,
:class:`EncodedClip`, :class:`ClipEncoder`, :class:`NetworkSpec`, :func:`per_frame_clip`,
:func:`resolve_device` and :func:`resolve_dtype`.

This module knows no network. Each network is one file that declares a :class:`NetworkSpec`
(its name, its classes, how it is exported); :mod:`models.registry` lists them and builds the
encoder a configuration names (``encoder.network``), in the runtime it names
(``encoder.runtime``: ``torch``, ``onnx`` — the same network exported to ONNX and run by
onnxruntime — or ``auto``, the network's fastest exact runtime).

Every encoder has ``encode_clip(frames) -> EncodedClip``. An encoder whose tokens are one per
frame, computed independently (``lite`` in torch or ONNX), also has ``encode_frames(frames) ->
(N, F)``: the pipeline then encodes each frame once and caches it across overlapping windows.
Encoders that see the clip as a whole (``vjepa2``) set ``encode_frames`` to ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from configs.loader import check_range

__all__ = [
    "Runtime",
    "Device",
    "DType",
    "EncoderConfig",
    "EncodedClip",
    "ClipEncoder",
    "NetworkSpec",
    "per_frame_clip",
    "resolve_device",
    "resolve_dtype",
]


class Runtime(str, Enum):
    AUTO = "auto"  # the network's fastest exact runtime (NetworkSpec.auto_runtime), torch if that fails
    TORCH = "torch"
    ONNX = "onnx"  # exported on first use into the cache, run by onnxruntime


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
    """``network``: the X-encoder, by the name its file registers (``lite``, ``vjepa2``; checked
    against :mod:`models.registry` by the model section). ``runtime``: ``auto`` (default: the
    network's fastest exact runtime — ONNX for ``lite`` when onnxruntime is installed, torch
    otherwise or when the export fails), ``torch`` or ``onnx``.
    ``model``: for a network that takes a checkpoint (``vjepa2``), a Hugging Face model id or a
    local directory (default ``facebook/vjepa2-vitl-fpc64-256``); for any network, an exported
    ``.onnx`` file (empty: export on first use into the cache). ``device``/``dtype``: where and
    in what precision the network runs (``auto``: CUDA with bf16 autocast when available, else
    CPU float32). ``image_size``: the ``lite`` crop (224 for the packaged weights); ``vjepa2``
    always takes its crop size from the checkpoint. ``frames``: frames per ``vjepa2`` clip (0:
    the checkpoint's ``frames_per_clip``; else 2 to 256). ``threads``: intra-op threads of the
    encoder's runtime (0: one per core; at most 256). The default is 1: the capture thread needs a core too, and on a small
    shared CPU two spinning OpenMP threads fall over as soon as anything else runs (measured:
    12x real time alone, under 1x beside another busy process, where one thread kept 9x).
    ``workers``: threads that encode parts of one batch of frames at once (0: one per core;
    :mod:`pipelines.encode_pool`), so that many cameras use every core while each call keeps
    ``threads`` intra-op threads; per-frame encoders only (``lite``); at most 64."""

    network: str = "lite"
    runtime: Runtime = Runtime.AUTO
    model: str = ""
    device: Device = Device.AUTO
    dtype: DType = DType.AUTO
    image_size: int = 224
    frames: int = 0
    threads: int = 1
    workers: int = 0

    #: Most ``threads``: beyond this an intra-op pool only costs memory (each thread's arena).
    MAX_THREADS = 256
    #: Most ``frames`` per clip (V-JEPA 2 checkpoints take 16 to 64).
    MAX_FRAMES = 256
    #: Most ``workers``: threads splitting one batch; more than a machine's cores only adds hand-overs.
    MAX_WORKERS = 64

    #: Keys of earlier versions: the loader's error for one names its replacement.
    RENAMED = {"backend": "model.encoder.network (lite | vjepa2) and model.encoder.runtime (auto | torch | onnx)"}

    def __post_init__(self) -> None:
        for name, kind in (("runtime", Runtime), ("device", Device), ("dtype", DType)):
            object.__setattr__(self, name, kind(getattr(self, name)))  # "cpu" → Device.CPU, for callers in code
        check_range("image_size", self.image_size, 32, 1024)
        check_range("threads", self.threads, 1, self.MAX_THREADS, zero="one per core")
        check_range("workers", self.workers, 1, self.MAX_WORKERS, zero="one per core")
        check_range("frames", self.frames, 2, self.MAX_FRAMES, zero="the checkpoint's")


@dataclass(frozen=True)
class EncodedClip:
    """``tokens (N, F)`` float32 visual tokens, ``pooled (F,)`` their mean, and ``frame_of_token (N,)``:
    the index (into the frames given) of the newest frame each token row covers, so a caller can
    take the tokens of the newest frames of a clip."""

    tokens: np.ndarray
    pooled: np.ndarray
    frame_of_token: np.ndarray


class ClipEncoder(Protocol):
    name: str  # network and runtime, e.g. "lite/torch", "vjepa2/torch", "lite/onnx"
    dim: int  # F, the width of a token
    device: str  # "cpu" or "cuda" (or the execution provider an onnx encoder uses)
    encode_frames: Callable[[Sequence[np.ndarray]], np.ndarray] | None  # per-frame fast path, or None

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip: ...


@dataclass(frozen=True)
class NetworkSpec:
    """What one network's file declares, and all the registry knows about it.

    ``name``: the ``encoder.network`` value. ``torch(config) -> ClipEncoder``: the network in
    torch. ``onnx(session, config) -> ClipEncoder``: the network's exported graph in an open
    :class:`~models.onnx_runtime.OnnxSession` (its ``meta`` holds what the export stored), or
    ``None`` when the network cannot be exported.
    ``export(config, path) -> Path``: export the network as ``config`` describes it.
    ``export_key(config) -> dict``: what identifies an export in the cache (the registry adds
    the network's name and the ONNX opset). ``auto_runtime``: what ``runtime: auto`` runs.
    ``class_head``: the network can have a classifier, which the label bridge needs: its encoder
    then has ``class_logits(tokens (N, F)) -> (R, C)`` and ``classes`` (a
    :class:`~models.text_bank.ClassNames`) — always for a packaged head (``lite``), only with a
    classifier checkpoint for ``vjepa2`` (checked when the encoder is built).
    ``onnx_class_head``: its ONNX runtime keeps the classifier too. ``classifier_example``: a
    checkpoint with a classifier, which the error for one without names.
    ``checkpoint``: ``encoder.model`` may name a checkpoint (otherwise the weights are packaged)."""

    name: str
    torch: Callable[[EncoderConfig], ClipEncoder]
    onnx: Callable[[Any, EncoderConfig], ClipEncoder] | None = None
    export: Callable[[EncoderConfig, Path], Path] | None = None
    export_key: Callable[[EncoderConfig], dict[str, Any]] = lambda config: {}
    auto_runtime: Runtime = Runtime.TORCH
    class_head: bool = False
    onnx_class_head: bool = False
    classifier_example: str = ""
    checkpoint: bool = False

    def __post_init__(self) -> None:
        if self.auto_runtime is Runtime.AUTO:
            raise ValueError(f"network {self.name}: auto_runtime must be torch or onnx")
        if (self.onnx is None) != (self.export is None):
            raise ValueError(f"network {self.name}: give both onnx and export, or neither")
        if self.onnx_class_head and not (self.class_head and self.onnx):
            raise ValueError(f"network {self.name}: onnx_class_head needs class_head and an ONNX runtime")


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
