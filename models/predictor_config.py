"""The ``model.predictor`` config section, for every predictor type (no torch here: the CLI loads it cheaply).

Exports :class:`PredictorType` and :class:`PredictorConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from configs.loader import check_range, invalid

__all__ = ["PredictorType", "PredictorConfig"]


class PredictorType(str, Enum):
    LABEL_BRIDGE = "label-bridge"
    LEARNED = "learned"


@dataclass(frozen=True)
class PredictorConfig:
    """``type``: ``label-bridge`` (training-free, needs an encoder with a classifier head: lite's
    ImageNet head, or a vjepa2 classifier checkpoint's) or ``learned`` (``models/vl_predictor.py``).
    label-bridge: ``top_k`` classes kept per clip (0 keeps all), softmax ``temperature``, class
    ``prompt`` template with ``{}`` (empty: the classifier's own, "a photo of a {}." for ImageNet,
    "a video of {}." for video actions). learned: ``checkpoint`` (the
    ``.safetensors`` written by ``jepa-stream train-predictor``, with its ``.json`` beside it);
    ``query`` (empty: the query the checkpoint was trained with, else "describe the scene");
    ``random_init``: run an untrained predictor when no checkpoint is given (latency
    measurements only — its captions mean nothing)."""

    type: PredictorType = PredictorType.LABEL_BRIDGE
    top_k: int = 10
    temperature: float = 1.0
    prompt: str = ""
    checkpoint: str = ""
    query: str = ""
    random_init: bool = False

    def __post_init__(self) -> None:
        check_range("top_k", self.top_k, 1, 10_000, zero="all")
        check_range("temperature", self.temperature, 0.0, 100.0, above=True)
        if self.prompt and "{}" not in self.prompt:
            raise invalid("prompt", "must contain '{}' where the class name goes", self.prompt)
        if self.checkpoint and self.random_init:
            raise invalid("random_init", "must be false when a checkpoint is given", self.random_init)
