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
from models.retrieval import RetrievalDecoder
from models.registry import build_encoder, network
from models.text_bank import EmbeddingCache, TextBank, imagenet_class_names
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

    def encoder_info(self) -> dict[str, str]:
        """Which model ran, for summaries: ``{"network", "runtime", "provider"}`` read from
        ``encoder`` (``provider``: onnxruntime's execution provider, or torch's device)."""
        name, _, provider = self.encoder.partition(" on ")
        network, _, runtime = name.partition("/")
        return {"network": network, "runtime": runtime or "torch", "provider": provider or "cpu"}


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


def _no_class_head(config: ModelConfig, encoder: ClipEncoder) -> str:
    """The one-line error for the label bridge on an encoder without a classifier."""
    spec = network(config.encoder.network)
    what = f"checkpoint {encoder.source}" if getattr(encoder, "source", None) else f"encoder {encoder.name}"
    use = (f"a checkpoint with a classifier head (such as {spec.classifier_example})" if spec.classifier_example
           else "a network with a classifier head")
    return (f"model.predictor.type: label-bridge needs a classifier head and the {spec.name} {what} has none; "
            f"use {use} or predictor.type: learned")


def build_models(config: ModelConfig, cache: EmbeddingCache | None = None, encoder: ClipEncoder | None = None) -> ModelStack:
    """Build the stack ``config`` names (``encoder`` replaces the configured X-encoder, for tests);
    text embeddings come from ``cache``. A checkpoint that is missing or does not fit, or the
    label bridge on an encoder without a classifier, is a :class:`ConfigError`.

    The label bridge is one mechanism for every encoder with a classifier (``class_logits`` and
    ``classes``): lite's ImageNet head per frame, a vjepa2 checkpoint's attentive probe per clip."""
    cache = cache or EmbeddingCache()
    if encoder is None:
        try:
            encoder = build_encoder(config.encoder)
        except (OSError, ValueError, WeightsError) as exc:
            raise ConfigError(f"model.encoder: {exc}") from None
    text = load_minilm()

    def embed(texts: list[str]) -> np.ndarray:  # (len(texts), D) unit rows, cached on disk
        return cache.get(_TEXT_ENCODER_ID, texts, lambda t: text.encode(t).numpy())

    p, d = config.predictor, config.decoder
    classes = getattr(encoder, "classes", None) if hasattr(encoder, "class_logits") else None
    imagenet = imagenet_class_names()
    own = classes is not None and classes != imagenet  # a classifier with classes of its own (vjepa2 SSv2 actions)
    class_text = None  # (C, D): the classifier's class prompts
    bank_needs_them = d.class_labels if own else d.imagenet_labels  # lite's classes are the ImageNet labels
    if classes is not None and (p.type is PredictorType.LABEL_BRIDGE or bank_needs_them):
        class_text = embed(classes.prompts(p.prompt))
    if p.type is PredictorType.LABEL_BRIDGE:
        if classes is None:
            raise ConfigError(_no_class_head(config, encoder))
        predict = LabelBridge(encoder.class_logits, class_text, top_k=p.top_k, temperature=p.temperature)
    else:
        predict = _learned_predictor(config, encoder, text)
    bank = TextBank((), np.zeros((0, text.dim), dtype=np.float32))
    if d.class_labels and own:
        bank = bank + TextBank(classes.labels, class_text)
    if d.imagenet_labels:
        bank = bank + TextBank(imagenet.labels, class_text if classes is not None and not own else embed(imagenet.prompts()))
    if d.phrases:
        phrases = list(d.phrases)
        bank = bank + TextBank(tuple(phrases), embed(phrases))
    if len(bank) == 0:
        raise ConfigError(f"model.decoder: the text bank is empty: {encoder.name} has no classifier for class_labels; "
                          f"give phrases or set imagenet_labels: true")
    return ModelStack(
        config.encoder.network,
        encoder.encode_frames,
        predict,
        RetrievalDecoder(d, bank),
        encode_clip=encoder.encode_clip,
        encoder=f"{encoder.name} on {encoder.device}",
    )
