"""The ``label-bridge`` predictor: a training-free map from visual features to the text space.

Exports :class:`LabelBridge`. Its settings (``top_k``, ``temperature``, the class prompt) are
checked where the predictor is configured, :class:`models.predictor_config.PredictorConfig`.

One mechanism for every encoder with a classifier head: the classifier gives class
probabilities for each row of its output — one row per frame for ``lite`` (ImageNet), one per
clip for a ``vjepa2`` classifier checkpoint (its attentive probe over the clip's tokens, e.g.
the 174 SSv2 actions); the rows are averaged, the ``top_k`` classes are kept and renormalised,
and the prediction is the probability-weighted sum of the text embeddings of the class prompts,
L2-normalised. The result lives in the Y-encoder's space, so clips and sentences compare by cosine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["LabelBridge"]


class LabelBridge:
    """``tokens (N, F)`` → unit vector ``(D,)`` in the text space.

    ``classify`` maps tokens ``(N, F)`` to logits ``(R, C)`` (R = N per-frame rows, or 1 for a
    clip classifier); ``class_text`` holds the unit
    text embedding ``(C, D)`` of each class prompt. ``top_k`` classes are kept per clip (0: all);
    ``temperature`` divides the logits before the softmax (above 1 spreads the mass).
    """

    def __init__(
        self,
        classify: Callable[[np.ndarray], np.ndarray],
        class_text: np.ndarray,
        *,
        top_k: int = 10,
        temperature: float = 1.0,
    ):
        self.top_k = top_k
        self.temperature = temperature
        self.classify = classify
        self.class_text = np.ascontiguousarray(class_text, dtype=np.float32)

    @property
    def dim(self) -> int:
        return self.class_text.shape[1]

    def class_probabilities(self, tokens: np.ndarray) -> np.ndarray:
        """Clip-mean class probabilities ``(C,)``."""
        logits = self.classify(tokens) / self.temperature  # (R, C)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p.mean(axis=0)  # (C,)

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        p = self.class_probabilities(tokens)
        k = self.top_k
        if 0 < k < p.shape[0]:
            keep = np.argpartition(p, -k)[-k:]
            sparse = np.zeros_like(p)
            sparse[keep] = p[keep]
            p = sparse
        y = (p / p.sum()) @ self.class_text  # (D,)
        return (y / max(float(np.linalg.norm(y)), 1e-12)).astype(np.float32)
