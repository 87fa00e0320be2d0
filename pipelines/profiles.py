"""Model profiles: build the encoder, predictor and decoder that a configuration names.

Exports :class:`ModelStack` and :func:`build_models`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.label_bridge import LabelBridge
from models.lite_encoder import LiteFrameEncoder
from models.minilm import load_minilm
from models.retrieval import RetrievalDecoder
from models.text_bank import EmbeddingCache, TextBank, imagenet_classes
from pipelines.config import ModelConfig

__all__ = ["ModelStack", "build_models"]

_TEXT_ENCODER_ID = "all-MiniLM-L6-v2/packaged"


@dataclass(frozen=True)
class ModelStack:
    """The three model steps of the selective path, as the pipeline calls them."""

    profile: str
    encode_frames: Callable[[list[np.ndarray]], np.ndarray]  # (N, H, W, 3) uint8 → (N, F)
    predict: Callable[[np.ndarray], np.ndarray]  # clip tokens (T, F) → unit (D,)
    decoder: RetrievalDecoder


def build_models(config: ModelConfig, cache: EmbeddingCache | None = None) -> ModelStack:
    """Load the ``lite`` stack from the packaged weights; text embeddings come from ``cache``."""
    cache = cache or EmbeddingCache()
    encoder = LiteFrameEncoder(config.encoder)
    text = load_minilm()
    classes = imagenet_classes()
    prompts = [config.predictor.prompt.format(", ".join(c.lemmas[:2])) for c in classes]
    class_text = cache.get(_TEXT_ENCODER_ID, prompts, lambda t: text.encode(t).numpy())
    bridge = LabelBridge(config.predictor, encoder.class_logits, class_text)
    bank = TextBank((), np.zeros((0, bridge.dim), dtype=np.float32))
    if config.decoder.imagenet_labels:
        bank = bank + TextBank(tuple(c.name for c in classes), class_text)
    if config.decoder.phrases:
        phrases = list(config.decoder.phrases)
        bank = bank + TextBank(tuple(phrases), cache.get(_TEXT_ENCODER_ID, phrases, lambda t: text.encode(t).numpy()))
    return ModelStack(config.profile, encoder.encode_frames, bridge, RetrievalDecoder(config.decoder, bank))
