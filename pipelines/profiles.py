"""Model profiles: build the encoder, predictor and decoder that a configuration names.

Exports :class:`ModelStack` and :func:`build_models`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.encoders import ClipEncoder, EncodedClip
from models.label_bridge import LabelBridge
from models.learned_predictor import LearnedPredictor, PredictorType, query_embeddings
from models.minilm import load_minilm
from models.registry import build_encoder
from models.retrieval import RetrievalDecoder
from models.text_bank import EmbeddingCache, TextBank, imagenet_classes
from models.vl_predictor import DEFAULT_QUERY, VLPredictor, VLPredictorConfig, load_predictor
from models.weights import WeightsError
from pipelines.config import ConfigError, ModelConfig

__all__ = ["ModelStack", "build_models"]

_TEXT_ENCODER_ID = "all-MiniLM-L6-v2/packaged"


@dataclass(frozen=True)
class ModelStack:
    """The three model steps of the selective path, as the pipeline calls them.

    ``encode_frames`` is the per-frame fast path (cached per frame by the pipeline); it is
    ``None`` for clip encoders (``vjepa2``), which the pipeline calls through ``encode_clip``
    once per window. ``encoder`` names the network, its runtime and where it runs (``lite/onnx on
    CPUExecutionProvider``)."""

    profile: str
    encode_frames: Callable[[list[np.ndarray]], np.ndarray] | None  # (N, H, W, 3) uint8 → (N, F)
    predict: Callable[[np.ndarray], np.ndarray]  # clip tokens (T, F) → unit (D,)
    decoder: RetrievalDecoder
    encode_clip: Callable[[list[np.ndarray]], EncodedClip] | None = None  # a window's frames → tokens (N, F)
    encoder: str = "lite/torch on cpu"


def _learned_predictor(config: ModelConfig, encoder: ClipEncoder, text) -> LearnedPredictor:
    p = config.predictor
    info: dict = {}
    if p.checkpoint:
        try:
            network, info = load_predictor(p.checkpoint)
        except (OSError, ValueError, WeightsError) as exc:
            raise ConfigError(f"model.predictor.checkpoint: {exc}") from None
        c = network.config
        if c.visual_dim != encoder.dim or c.out_dim != text.dim:
            raise ConfigError(
                f"model.predictor.checkpoint: {p.checkpoint} was trained for {c.visual_dim}-d visual tokens and a "
                f"{c.out_dim}-d text space; this profile has {encoder.dim}-d tokens ({encoder.name}) and {text.dim}-d text"
            )
    elif p.random_init:
        network = VLPredictor(VLPredictorConfig(visual_dim=encoder.dim, query_dim=text.dim, out_dim=text.dim))
    else:
        raise ConfigError(
            "model.predictor: the learned predictor needs a checkpoint (predictor.checkpoint, made by "
            "`jepa-stream train-predictor`); for latency-only runs pass --predictor-random"
        )
    query = p.query or info.get("query") or DEFAULT_QUERY
    device = "cpu" if encoder.device not in ("cuda", "CUDAExecutionProvider") else "cuda"
    return LearnedPredictor(network, query_embeddings(text, query), device)


def build_models(config: ModelConfig, cache: EmbeddingCache | None = None, encoder: ClipEncoder | None = None) -> ModelStack:
    """Build the stack ``config`` names (``encoder`` replaces the configured X-encoder, for tests);
    text embeddings come from ``cache``. A checkpoint that is missing or does not fit is a
    :class:`ConfigError`."""
    cache = cache or EmbeddingCache()
    if encoder is None:
        try:
            encoder = build_encoder(config.encoder)
        except (OSError, ValueError, WeightsError) as exc:
            raise ConfigError(f"model.encoder: {exc}") from None
    text = load_minilm()
    classes = imagenet_classes()
    p = config.predictor
    class_text = None
    if p.type is PredictorType.LABEL_BRIDGE or config.decoder.imagenet_labels:
        prompts = [p.prompt.format(", ".join(c.lemmas[:2])) for c in classes]
        class_text = cache.get(_TEXT_ENCODER_ID, prompts, lambda t: text.encode(t).numpy())
    if p.type is PredictorType.LABEL_BRIDGE:
        if not hasattr(encoder, "class_logits"):
            raise ConfigError(f"model.predictor.type: label-bridge needs the lite ImageNet head; {encoder.name} has none")
        predict = LabelBridge(encoder.class_logits, class_text, top_k=p.top_k, temperature=p.temperature)
    else:
        predict = _learned_predictor(config, encoder, text)
    bank = TextBank((), np.zeros((0, text.dim), dtype=np.float32))
    if config.decoder.imagenet_labels:
        bank = bank + TextBank(tuple(c.name for c in classes), class_text)
    if config.decoder.phrases:
        phrases = list(config.decoder.phrases)
        bank = bank + TextBank(tuple(phrases), cache.get(_TEXT_ENCODER_ID, phrases, lambda t: text.encode(t).numpy()))
    return ModelStack(
        config.encoder.network,
        encoder.encode_frames,
        predict,
        RetrievalDecoder(config.decoder, bank),
        encode_clip=encoder.encode_clip,
        encoder=f"{encoder.name} on {encoder.device}",
    )
