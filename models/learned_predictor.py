"""The ``learned`` predictor at run time: a clip's tokens (numpy) → a unit vector in the text space.

Exports :class:`PredictorType`, :class:`PredictorConfig`, :func:`query_embeddings` and :class:`LearnedPredictor`.

:class:`PredictorConfig` (re-exported from the torch-free ``models/predictor_config.py``) is the
``model.predictor`` section. The network is ``models/vl_predictor.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from models.predictor_config import PredictorConfig, PredictorType
from models.vl_predictor import DEFAULT_QUERY, VLPredictor

__all__ = ["PredictorType", "PredictorConfig", "query_embeddings", "LearnedPredictor"]


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
