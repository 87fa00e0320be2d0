"""Train the ``learned`` predictor on (video span, caption) pairs: ``jepa-stream train-predictor``.

Exports :class:`TrainOptions`, :func:`retrieval_metrics`, :func:`train_predictor` and
:func:`run_train`; :class:`Pair` and :func:`read_pairs` stay importable from here (their home
is :mod:`pipelines.training.pairs`, which reads the pairs and caches the clips' tokens).

The X-encoder (the profile's, from ``--config``) and the Y-encoder (MiniLM) are frozen: each
clip is encoded once and its tokens are cached in ``OUT/tokens.safetensors`` (reused by later
runs), each caption once. The predictor learns with bidirectional InfoNCE and a learnable
temperature (or the SigLIP sigmoid loss, ``--loss siglip``); clips with the same caption count
as positives of each other. ``OUT/predictor.safetensors`` and
``OUT/predictor.json`` are written after each epoch (with ``OUT/train_state.pt`` for
``--resume``); the JSON holds the config, the query, the encoder and text↔clip retrieval
metrics (R@1, R@5) on the held-out split, before training and after each epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from configs.loader import check_range, invalid
from models.learned_predictor import query_embeddings
from models.vl_predictor import DEFAULT_QUERY, VLPredictor, VLPredictorConfig, load_predictor, save_predictor
from pipelines.config import Config, ConfigError, load_config
from pipelines.training.pairs import MAX_CLIP_FRAMES, Pair, encode_pairs, read_pairs, split_pairs

__all__ = ["TrainOptions", "Pair", "read_pairs", "retrieval_metrics", "train_predictor", "run_train"]


@dataclass(frozen=True)
class TrainOptions:
    """``epochs``/``batch_size``/``lr``/``weight_decay``: the optimisation. ``loss``: ``infonce``
    (bidirectional, learnable temperature starting at ``temperature``) or ``siglip``.
    ``holdout``: fraction held out when the data names no split. ``width``/``depth``/``heads``:
    predictor sizes. ``query``: the query tokens the predictor sees. ``max_frames``: frames read
    per span. ``max_visual_tokens``: the predictor pools longer token sequences to this length."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    loss: str = "infonce"
    temperature: float = 0.07
    holdout: float = 0.2
    seed: int = 0
    width: int = 256
    depth: int = 2
    heads: int = 4
    query: str = DEFAULT_QUERY
    max_frames: int = MAX_CLIP_FRAMES
    max_visual_tokens: int = 64

    def __post_init__(self) -> None:
        if self.loss not in ("infonce", "siglip"):
            raise invalid("loss", "must be infonce or siglip", self.loss)
        for name, low, high in (("epochs", 1, 100_000), ("batch_size", 2, 65_536), ("max_frames", 1, 1024),
                                ("max_visual_tokens", 1, 65_536)):
            check_range(name, getattr(self, name), low, high)
        for name, high in (("lr", 10.0), ("temperature", 100.0)):
            check_range(name, getattr(self, name), 0.0, high, above=True)
        check_range("weight_decay", self.weight_decay, 0.0, 10.0)
        check_range("holdout", self.holdout, 0.0, 1.0, above=True, below=True)


def _pad(tokens: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(t.shape[0] for t in tokens)
    batch = torch.zeros(len(tokens), n, tokens[0].shape[1])  # (B, N, F)
    mask = torch.zeros(len(tokens), n, dtype=torch.bool)  # (B, N)
    for i, t in enumerate(tokens):
        batch[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return batch, mask


def predict_all(model: VLPredictor, tokens: list[torch.Tensor], query: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for s in range(0, len(tokens), batch_size):
            visual, mask = _pad(tokens[s : s + batch_size])
            q = query[None].expand(len(visual), -1, -1)  # (B, Q, Dq)
            out.append(model(visual, mask, q, torch.ones(q.shape[:2], dtype=torch.bool)))
    return torch.cat(out)  # (N, D)


def retrieval_metrics(clip_y: torch.Tensor, caption_ids: list[int], text_y: torch.Tensor) -> dict:
    """Text↔clip retrieval over the held-out set. ``clip_y (N, D)`` predicted clips, ``caption_ids``
    each clip's caption (an index into ``text_y (K, D)``, the distinct held-out captions).
    clip→text: is the clip's caption among the top k of the K captions; text→clip: is a clip with
    that caption among the top k of the N clips. Chance levels are given for R@1."""
    ids = torch.tensor(caption_ids)
    sims = clip_y @ text_y.T  # (N, K)
    ranks_c2t = (sims > sims.gather(1, ids[:, None])).sum(1)  # (N,) captions scoring above the true one
    t2c_order = sims.T.argsort(dim=1, descending=True)  # (K, N)
    hits = ids[t2c_order] == torch.arange(len(text_y))[:, None]  # (K, N)
    hit_pos = torch.where(hits.any(1), hits.float().argmax(1), len(ids))  # (K,) first correct rank (N: none)
    counts = torch.bincount(ids, minlength=len(text_y)).float()
    out = {}
    for k in (1, 5):
        out[f"clip2text_r{k}"] = round(float((ranks_c2t < k).float().mean()), 4)
        out[f"text2clip_r{k}"] = round(float((hit_pos < k).float().mean()), 4)
    out["chance_clip2text_r1"] = round(1.0 / len(text_y), 4)
    out["chance_text2clip_r1"] = round(float((counts / len(ids)).mean()), 4)
    return out


def _loss(y: torch.Tensor, t: torch.Tensor, same: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, kind: str) -> torch.Tensor:
    """``y (B, D)`` predictions, ``t (B, D)`` caption embeddings, ``same (B, B)`` True where two
    rows share a caption (all positives)."""
    logits = scale.exp().clamp(max=100.0) * (y @ t.T)  # (B, B)
    if kind == "siglip":
        labels = same.float() * 2 - 1  # +1 positive, -1 negative
        return -F.logsigmoid(labels * (logits + bias)).sum(1).mean()
    c2t = -(torch.logsumexp(logits.masked_fill(~same, -1e4), 1) - torch.logsumexp(logits, 1))
    t2c = -(torch.logsumexp(logits.T.masked_fill(~same.T, -1e4), 1) - torch.logsumexp(logits.T, 1))
    return (c2t.mean() + t2c.mean()) / 2


def train_predictor(
    data: str | Path,
    out: str | Path,
    opts: TrainOptions = TrainOptions(),
    config: Config | None = None,
    encoder=None,
    text_encoder=None,
    resume: bool = False,
    log=print,
    progress: bool = True,
) -> tuple[VLPredictor, dict]:
    """Train and write the checkpoint under ``out``; returns the trained network and the final JSON metadata."""
    config = config or load_config()
    out = Path(out)
    torch.manual_seed(opts.seed)
    pairs = read_pairs(data)
    train_idx, val_idx = split_pairs(pairs, opts.holdout, opts.seed)
    encoder, text = _encoders(config, encoder, text_encoder)
    fps, max_side = config.sampling.fps, config.sampling.max_side
    tokens = encode_pairs(pairs, encoder, fps, max_side, opts.max_frames, out / "tokens.safetensors", log, opts.max_visual_tokens)
    captions = sorted({p.caption for p in pairs})
    caption_index = {c: i for i, c in enumerate(captions)}
    text_y = text.encode(captions).float()  # (K, D)
    cap_ids = [caption_index[p.caption] for p in pairs]
    query = query_embeddings(text, opts.query)  # (Q, Dq)
    meta_path, state_path = out / "predictor.json", out / "train_state.pt"
    model, scale, bias, optim, start_epoch, history = _start(out, opts, encoder.dim, query.shape[1], text_y.shape[1], resume, log)
    val_texts = sorted({cap_ids[i] for i in val_idx})
    val_remap = {c: j for j, c in enumerate(val_texts)}

    def evaluate() -> dict:
        model.eval()
        y = predict_all(model, [tokens[i] for i in val_idx], query)
        return retrieval_metrics(y, [val_remap[cap_ids[i]] for i in val_idx], text_y[val_texts])

    if not history:
        history.append({"epoch": 0, **evaluate()})
        log(f"held-out before training: {_fmt(history[-1])}")
    rng = random.Random(opts.seed + start_epoch)
    info = {}
    for epoch in range(start_epoch + 1, opts.epochs + 1):
        model.train()
        order = train_idx[:]
        rng.shuffle(order)
        bar = _bar(len(order), f"epoch {epoch}/{opts.epochs}", progress)
        seen, total = _epoch(model, optim, (scale, bias), order, tokens, query, cap_ids, text_y, opts, bar)
        metrics = {"epoch": epoch, "loss": round(total / max(seen, 1), 4), **evaluate()}
        history.append(metrics)
        log(f"epoch {epoch}: {_fmt(metrics)}")
        info = _metadata(opts, encoder, config, scale, (len(train_idx), len(val_idx), len(captions)), history)
        save_predictor(model, out / "predictor", info)
        torch.save({"epoch": epoch, "scale": scale.item(), "bias": bias.item(), "optimizer": optim.state_dict()}, state_path)
    if not info:
        info = json.loads(meta_path.read_text())
    return model.eval(), info


def _encoders(config: Config, encoder, text_encoder):
    """The visual encoder (``encoder``, else the configured one) and the text encoder (``text_encoder``, else MiniLM)."""
    from models.minilm import load_minilm
    from models.registry import build_encoder

    if encoder is None:
        try:
            encoder = build_encoder(config.model.encoder)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.encoder: {exc}") from None
    return encoder, text_encoder or load_minilm()


def _start(out: Path, opts: TrainOptions, visual_dim: int, query_dim: int, out_dim: int, resume: bool, log):
    """The network, its logit scale and bias, the optimiser, the last epoch done and the history:
    from the checkpoint under ``out`` with ``resume`` (when there is one), else fresh."""
    meta_path, state_path = out / "predictor.json", out / "train_state.pt"
    start_epoch, history, state = 0, [], None
    if resume and meta_path.is_file() and state_path.is_file():
        model, info = load_predictor(out / "predictor.safetensors")
        if model.config.visual_dim != visual_dim:
            raise ConfigError(f"{out}: the checkpoint there was trained with another encoder; use a new --out")
        state = torch.load(state_path, weights_only=True)
        start_epoch, history = int(state["epoch"]), info.get("history", [])
        log(f"resuming after epoch {start_epoch}")
    else:
        model = VLPredictor(
            VLPredictorConfig(
                visual_dim=visual_dim, query_dim=query_dim, out_dim=out_dim,
                width=opts.width, depth=opts.depth, heads=opts.heads, max_visual_tokens=opts.max_visual_tokens,
            )
        )
    scale = torch.nn.Parameter(torch.tensor(math.log(1 / opts.temperature) if opts.loss == "infonce" else math.log(10.0)))
    bias = torch.nn.Parameter(torch.tensor(0.0 if opts.loss == "infonce" else -10.0))
    optim = torch.optim.AdamW([*model.parameters(), scale, bias], lr=opts.lr, weight_decay=opts.weight_decay)
    if state is not None:
        scale.data.fill_(float(state["scale"]))
        bias.data.fill_(float(state["bias"]))
        optim.load_state_dict(state["optimizer"])
    return model, scale, bias, optim, start_epoch, history


def _epoch(model, optim, scale_bias, order: list[int], tokens, query, cap_ids: list[int], text_y, opts: TrainOptions, bar):
    """One pass over the training pairs in ``order``, in batches; returns (pairs seen, summed loss)."""
    scale, bias = scale_bias
    started, seen, total = time.monotonic(), 0, 0.0
    for s in range(0, len(order), opts.batch_size):
        batch = order[s : s + opts.batch_size]
        if len(batch) < 2:
            continue
        visual, mask = _pad([tokens[i] for i in batch])  # (B, N, F), (B, N)
        q = query[None].expand(len(batch), -1, -1)  # (B, Q, Dq)
        y = model(visual, mask, q, torch.ones(q.shape[:2], dtype=torch.bool))  # (B, D)
        ids = torch.tensor([cap_ids[i] for i in batch])
        loss = _loss(y, text_y[ids], ids[:, None] == ids[None, :], scale, bias, opts.loss)
        optim.zero_grad()
        loss.backward()
        optim.step()
        seen += len(batch)
        total += loss.item() * len(batch)
        if bar is not None:
            bar.update(len(batch))
            bar.set_postfix(loss=f"{loss.item():.3f}", clips_s=f"{seen / max(time.monotonic() - started, 1e-9):.0f}")
    if bar is not None:
        bar.close()
    return seen, total


def _metadata(opts: TrainOptions, encoder, config: Config, scale, sizes: tuple[int, int, int], history: list) -> dict:
    """The checkpoint's JSON: what it was trained with and how it did (``sizes``: train, val, captions)."""
    return {
        "query": opts.query,
        "encoder": encoder.name.split("/")[0],
        "profile": config.model.encoder.network,
        "text_encoder": "all-MiniLM-L6-v2",
        "options": asdict(opts),
        "temperature": round(float(1 / scale.detach().exp()), 5),
        "pairs": {"train": sizes[0], "val": sizes[1], "captions": sizes[2]},
        "history": history,
    }


def _fmt(m: dict) -> str:
    loss = f"loss {m['loss']:.3f}, " if "loss" in m else ""
    return (f"{loss}clip→text R@1 {m['clip2text_r1']:.2f} R@5 {m['clip2text_r5']:.2f}, "
            f"text→clip R@1 {m['text2clip_r1']:.2f} R@5 {m['text2clip_r5']:.2f} (chance R@1 {m['chance_clip2text_r1']:.2f})")


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", leave=False, file=sys.stderr, mininterval=0.5)


def run_train(args: argparse.Namespace) -> int:
    """The ``train-predictor`` command (its parser is in ``pipelines/cli/models.py``)."""
    from pipelines.cli.options import apply_model_options

    names = ("epochs", "batch_size", "lr", "loss", "holdout", "width", "depth", "heads", "query", "seed", "max_frames")
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    try:
        opts = TrainOptions(**given)
        VLPredictorConfig(width=opts.width, depth=opts.depth, heads=opts.heads)
    except ValueError as exc:
        raise ConfigError(f"train-predictor: {exc}") from None
    config = apply_model_options(load_config(args.config), args)
    _, info = train_predictor(args.data, args.out, opts, config, resume=args.resume, log=lambda m: print(m, file=sys.stderr))
    final = info["history"][-1]
    print(f"{Path(args.out) / 'predictor.safetensors'}: {_fmt(final)}")
    return 0
