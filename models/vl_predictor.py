"""The ``learned`` predictor, in the VL-JEPA form: visual tokens + query tokens → a unit vector in the text space.

Exports :class:`VLPredictorConfig`, :class:`VLPredictor`, :func:`save_predictor` and :func:`load_predictor`.

Visual tokens ``(B, N, F)`` are (if ``N > max_visual_tokens``) average-pooled along the sequence
to ``max_visual_tokens``, projected to ``width``; the query's token embeddings ``(B, Q, Dq)``
(the Y-encoder's word embeddings of e.g. "describe the scene") are projected to ``width``; both
get a learned position and a type embedding, are concatenated and pass through a bidirectional
pre-LN transformer. The output is the mean over non-padding tokens, a linear map to the
Y-encoder's dimension ``out_dim``, L2-normalised.

A checkpoint is two files: ``<name>.safetensors`` (every tensor, checked key by key on load)
and ``<name>.json`` (this config and the query it was trained with).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from configs.loader import check_range, invalid

from models.weights import load_checked

__all__ = ["VLPredictorConfig", "VLPredictor", "save_predictor", "load_predictor", "DEFAULT_QUERY"]

DEFAULT_QUERY = "describe the scene"


@dataclass(frozen=True)
class VLPredictorConfig:
    """``visual_dim``: width of the X-encoder's tokens (1280 lite, 1024 ViT-L). ``query_dim``: width of
    the query token embeddings (384 for MiniLM). ``out_dim``: the Y-encoder's dimension.
    ``width``/``depth``/``heads``/``mlp_ratio``: the transformer. ``max_visual_tokens``: longer token
    sequences are average-pooled to this length; ``max_query_tokens``: longer queries are cut."""

    visual_dim: int = 1280
    query_dim: int = 384
    out_dim: int = 384
    width: int = 256
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    max_visual_tokens: int = 64
    max_query_tokens: int = 16
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, most in (("visual_dim", 65_536), ("query_dim", 65_536), ("out_dim", 65_536), ("width", 16_384),
                           ("depth", 128), ("heads", 256), ("max_visual_tokens", 65_536), ("max_query_tokens", 4096)):
            check_range(name, getattr(self, name), 1, most)
        if self.width % self.heads:
            raise invalid("width", f"must be a multiple of heads ({self.heads})", self.width)
        check_range("dropout", self.dropout, 0.0, 1.0, below=True)


class VLPredictor(nn.Module):
    def __init__(self, config: VLPredictorConfig):
        super().__init__()
        c = self.config = config
        self.visual_proj = nn.Linear(c.visual_dim, c.width)
        self.query_proj = nn.Linear(c.query_dim, c.width)
        self.position = nn.Parameter(torch.zeros(c.max_visual_tokens + c.max_query_tokens, c.width))
        self.token_type = nn.Parameter(torch.zeros(2, c.width))  # 0 visual, 1 query
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.token_type, std=0.02)
        layer = nn.TransformerEncoderLayer(
            c.width, c.heads, int(c.width * c.mlp_ratio), c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.out_dim)

    def pool_visual(self, visual: torch.Tensor, visual_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cut ``(B, N, F)`` down to at most ``max_visual_tokens`` by averaging runs of tokens."""
        B, N, Fv = visual.shape
        M = self.config.max_visual_tokens
        if N <= M:
            return visual, visual_mask
        m = visual_mask.to(visual.dtype)[:, None, :]  # (B, 1, N)
        summed = F.adaptive_avg_pool1d((visual * m.transpose(1, 2)).transpose(1, 2), M)  # (B, F, M)
        counts = F.adaptive_avg_pool1d(m, M)  # (B, 1, M)
        pooled = (summed / counts.clamp(min=1e-6)).transpose(1, 2)  # (B, M, F)
        return pooled, counts[:, 0] > 0

    def forward(
        self, visual: torch.Tensor, visual_mask: torch.Tensor, query: torch.Tensor, query_mask: torch.Tensor
    ) -> torch.Tensor:
        """``visual (B, N, F)``, ``visual_mask (B, N)`` bool (True = real token), ``query (B, Q, Dq)``,
        ``query_mask (B, Q)`` → unit vectors ``(B, out_dim)``."""
        c = self.config
        visual, visual_mask = self.pool_visual(visual, visual_mask)  # (B, N', F), N' <= max_visual_tokens
        query, query_mask = query[:, : c.max_query_tokens], query_mask[:, : c.max_query_tokens]
        N, Q = visual.shape[1], query.shape[1]
        v = self.visual_proj(visual) + self.position[:N] + self.token_type[0]  # (B, N', W)
        q = self.query_proj(query) + self.position[c.max_visual_tokens : c.max_visual_tokens + Q] + self.token_type[1]  # (B, Q, W)
        x = torch.cat([v, q], dim=1)  # (B, N' + Q, W)
        keep = torch.cat([visual_mask, query_mask], dim=1).bool()  # (B, N' + Q)
        x = self.norm(self.blocks(x, src_key_padding_mask=~keep))  # (B, N' + Q, W)
        w = keep[..., None].to(x.dtype)  # (B, N' + Q, 1)
        pooled = (x * w).sum(1) / w.sum(1).clamp(min=1.0)  # (B, W)
        return F.normalize(self.head(pooled), dim=-1)  # (B, out_dim)


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_predictor(model: VLPredictor, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` (the config plus ``extra``); returns the weights' path."""
    from safetensors.torch import save_file

    weights, meta = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights.with_name(weights.name + ".part")))
    meta.write_text(json.dumps({"config": asdict(model.config), **(extra or {})}, indent=2) + "\n")
    weights.with_name(weights.name + ".part").replace(weights)
    return weights


def load_predictor(path: str | Path) -> tuple[VLPredictor, dict]:
    """A predictor and its JSON metadata from a checkpoint written by :func:`save_predictor`."""
    from safetensors.torch import load_file

    weights, meta = _paths(path)
    if not weights.is_file() or not meta.is_file():
        raise FileNotFoundError(f"predictor checkpoint {weights.with_suffix('')}: needs both {weights.name} and {meta.name}")
    info = json.loads(meta.read_text())
    try:
        config = VLPredictorConfig(**info["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{meta}: not a predictor config ({exc})") from None
    model = VLPredictor(config)
    load_checked(model, load_file(str(weights)), source=str(weights))
    return model.eval(), info
