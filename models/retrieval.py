"""The ``retrieval`` decoder: a Y-space vector → the nearest texts of a bank.

Exports :class:`RetrievalConfig`, :class:`Caption` and :class:`RetrievalDecoder`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs.loader import check_range

from models.text_bank import TextBank

__all__ = ["RetrievalConfig", "Caption", "RetrievalDecoder"]


@dataclass(frozen=True)
class RetrievalConfig:
    """``top_k``: labels reported per caption. The bank holds: ``imagenet_labels``, the ImageNet
    class names; ``class_labels``, the class names of the encoder's classifier where they are its
    own (a vjepa2 classifier checkpoint's, e.g. the 174 SSv2 actions; lite's classes are ImageNet's,
    so for lite ``imagenet_labels`` decides); ``phrases``, extra texts."""

    top_k: int = 5
    phrases: tuple[str, ...] = ()
    imagenet_labels: bool = True
    class_labels: bool = True

    def __post_init__(self) -> None:
        check_range("top_k", self.top_k, 1, 1000)
        if not (self.phrases or self.imagenet_labels or self.class_labels):
            raise ValueError("the text bank is empty: give phrases or keep class_labels or imagenet_labels")


@dataclass(frozen=True)
class Caption:
    """``text`` is the best entry; ``labels`` the ``top_k`` entries as ``(text, cosine)``, best first."""

    text: str
    labels: tuple[tuple[str, float], ...]


class RetrievalDecoder:
    def __init__(self, config: RetrievalConfig, bank: TextBank):
        if len(bank) == 0:
            raise ValueError("the text bank is empty")
        self.config = config
        self.bank = bank

    def decode(self, y: np.ndarray) -> Caption:
        scores = self.bank.embeddings @ y  # (N,)
        k = min(self.config.top_k, len(self.bank))
        top = np.argpartition(scores, -k)[-k:]
        top = top[np.argsort(-scores[top])]
        labels = []
        for i in top:
            text = self.bank.texts[i]
            if all(text != seen for seen, _ in labels):  # two classes can share a name ("crane")
                labels.append((text, round(float(scores[i]), 4)))
        return Caption(text=labels[0][0], labels=tuple(labels))
