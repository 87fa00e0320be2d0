"""The ``learned`` predictor at run time: a clip's tokens (numpy) → a unit vector in the text space.

Exports :class:`PredictorType`, :class:`PredictorConfig`, :func:`query_embeddings` and :class:`LearnedPredictor`.

:class:`PredictorConfig` is the ``model.predictor`` section for every predictor type: the
``label-bridge`` keys (``top_k``, ``temperature``, ``prompt``) and the ``learned`` keys
(``checkpoint``, ``query``, ``random_init``). The network is ``models/vl_predictor.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from models.vl_predictor import DEFAULT_QUERY, VLPredictor

__all__ = ["PredictorType", "PredictorConfig", "query_embeddings", "LearnedPredictor"]


class PredictorType(str, Enum):
    LABEL_BRIDGE = "label-bridge"
    LEARNED = "learned"


@dataclass(frozen=True)
class PredictorConfig:
    """``type``: ``label-bridge`` (training-free, needs the lite ImageNet head) or ``learned``
    (``models/vl_predictor.py``). label-bridge: ``top_k`` classes kept per clip (0 keeps all),
    softmax ``temperature``, class ``prompt`` template with ``{}``. learned: ``checkpoint`` (the
    ``.safetensors`` written by ``jepa-stream train-predictor``, with its ``.json`` beside it);
    ``query`` (empty: the query the checkpoint was trained with, else "describe the scene");
    ``random_init``: run an untrained predictor when no checkpoint is given (latency
    measurements only — its captions mean nothing)."""

    type: PredictorType = PredictorType.LABEL_BRIDGE
    top_k: int = 10
    temperature: float = 1.0
    prompt: str = "a photo of a {}."
    checkpoint: str = ""
    query: str = ""
    random_init: bool = False

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise ValueError(f"top_k must be 0 (all) or positive, got {self.top_k}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if "{}" not in self.prompt:
            raise ValueError(f"prompt must contain '{{}}' where the class name goes, got {self.prompt!r}")
        if self.checkpoint and self.random_init:
            raise ValueError("checkpoint and random_init exclude each other")


def query_embeddings(text_encoder, query: str) -> torch.Tensor:
    """The Y-encoder's (MiniLM's) word embeddings of ``query``'s WordPiece tokens: ``(Q, 384)``."""
    ids = text_encoder.tokenizer.encode(query or DEFAULT_QUERY).ids[: text_encoder.max_tokens]
    table = text_encoder.model.embeddings["word_embeddings"].weight
    return table[torch.tensor(ids, dtype=torch.long)].detach().float().clone()  # (Q, 384)


class LearnedPredictor:
    """``tokens (T, F)`` numpy → unit ``(D,)`` numpy, the query embedded once."""

    def __init__(self, network: VLPredictor, query: torch.Tensor, device: str = "cpu"):
        self.network = network.eval().to(device)
        self.device = device
        self.query = query.to(device)[None]  # (1, Q, Dq)
        self.query_mask = torch.ones(self.query.shape[:2], dtype=torch.bool, device=device)  # (1, Q)

    @property
    def dim(self) -> int:
        return self.network.config.out_dim

    @torch.inference_mode()
    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        visual = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.float32)).to(self.device)[None]  # (1, T, F)
        mask = torch.ones(visual.shape[:2], dtype=torch.bool, device=self.device)  # (1, T)
        return self.network(visual, mask, self.query, self.query_mask)[0].float().cpu().numpy()  # (D,)
