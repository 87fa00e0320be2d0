"""The ``label-bridge`` predictor: a training-free map from visual features to the text space.

Exports :class:`LabelBridgeConfig` and :class:`LabelBridge`.

For each frame of a clip the classifier gives ImageNet class probabilities; they are averaged
over the clip, the ``top_k`` classes are kept and renormalised, and the prediction is the
probability-weighted sum of the text embeddings of the class prompts, L2-normalised. The result
lives in the Y-encoder's space, so clips and sentences compare by cosine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LabelBridgeConfig", "LabelBridge"]


@dataclass(frozen=True)
class LabelBridgeConfig:
    """``top_k``: classes kept per clip (0 keeps all). ``temperature``: softmax temperature
    (above 1 spreads the mass over more classes). ``prompt``: template for class texts; ``{}`` is
    replaced by the class lemmas."""

    top_k: int = 10
    temperature: float = 1.0
    prompt: str = "a photo of a {}."

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (all) or positive, got {self.top_k}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if "{}" not in self.prompt:
            raise ValueError(f"prompt must contain '{{}}' where the class name goes, got {self.prompt!r}")


class LabelBridge:
    """``tokens (T, F)`` → unit vector ``(D,)`` in the text space.

    ``classify`` maps features ``(T, F)`` to logits ``(T, C)``; ``class_text`` holds the unit
    text embedding ``(C, D)`` of each class prompt.
    """

    def __init__(self, config: LabelBridgeConfig, classify: Callable[[np.ndarray], np.ndarray], class_text: np.ndarray):
        self.config = config
        self.classify = classify
        self.class_text = np.ascontiguousarray(class_text, dtype=np.float32)

    @property
    def dim(self) -> int:
        return self.class_text.shape[1]

    def class_probabilities(self, tokens: np.ndarray) -> np.ndarray:
        """Clip-mean class probabilities ``(C,)``."""
        logits = self.classify(tokens) / self.config.temperature  # (T, C)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p.mean(axis=0)  # (C,)

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        p = self.class_probabilities(tokens)
        k = self.config.top_k
        if 0 < k < p.shape[0]:
            keep = np.argpartition(p, -k)[-k:]
            sparse = np.zeros_like(p)
            sparse[keep] = p[keep]
            p = sparse
        y = (p / p.sum()) @ self.class_text  # (D,)
        return (y / max(float(np.linalg.norm(y)), 1e-12)).astype(np.float32)
