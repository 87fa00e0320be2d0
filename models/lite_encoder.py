"""The ``lite`` X-encoder: RGB frames → one EfficientNet-Lite0 feature vector per frame.

Exports :class:`LiteFrameEncoder` (configured through :class:`models.encoders.EncoderConfig`).

Each frame is resized so its shorter side is ``image_size``, centre-cropped to a square and
normalised with ImageNet mean/std, as the packaged weights expect. Frames are encoded in one
batch per call; callers cache the result, so a frame shared by overlapping clips is encoded once.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from models.efficientnet_lite import EfficientNetLite, load_lite0

__all__ = ["LiteFrameEncoder"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class LiteFrameEncoder:
    """``encode_frames([(H, W, 3) uint8 RGB, …])`` → ``float32 (N, 1280)`` pooled features.

    ``image_size``: side of the square crop fed to the network (224 for the packaged weights).
    ``threads``: torch intra-op threads (0 leaves torch's default, one per core). ``network``:
    an EfficientNet-Lite (default: the packaged Lite0); ``device``: where it runs.
    """

    def __init__(
        self, image_size: int = 224, threads: int = 0, network: EfficientNetLite | None = None, device: str = "cpu"
    ):
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
        size = self.image_size
        h, w = image.shape[:2]
        scale = size / min(h, w)
        rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
        y, x = (rh - size) // 2, (rw - size) // 2
        crop = resized[y : y + size, x : x + size].astype(np.float32) / 255.0
        return ((crop - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)  # (3, S, S)

    @torch.inference_mode()
    def encode_frames(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = torch.from_numpy(np.stack([self.preprocess(im) for im in images]))  # (N, 3, S, S)
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        return self.network.features(batch).float().cpu().numpy()  # (N, 1280)

    @torch.inference_mode()
    def class_logits(self, features: np.ndarray) -> np.ndarray:
        """Features ``(N, 1280)`` → ImageNet logits ``(N, 1000)``."""
        x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
        return self.network.classify(x).float().cpu().numpy()
