"""The ``model.predictor`` config section, for every predictor type (no torch here: the CLI loads it cheaply).

Exports :class:`PredictorType` and :class:`PredictorConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (all) or positive, got {self.top_k}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.prompt and "{}" not in self.prompt:
            raise ValueError(f"prompt must contain '{{}}' where the class name goes, got {self.prompt!r}")
        if self.checkpoint and self.random_init:
            raise ValueError("checkpoint and random_init exclude each other")
