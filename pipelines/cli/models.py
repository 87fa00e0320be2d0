"""``jepa-stream train-predictor`` and ``jepa-stream export-onnx``: the commands that make model files.

Exports :func:`add_parsers`. Training and export import torch when they run, not before.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from models import registry
from pipelines.cli.common import add_renamed
from pipelines.config import ConfigError, load_config

__all__ = ["add_parsers"]


def add_parsers(sub) -> None:
    """Register ``train-predictor`` and ``export-onnx`` on the CLI's subparsers."""
    _add_train_parser(sub)
    _add_export_parser(sub)


def _add_train_parser(sub) -> argparse.ArgumentParser:
    """``train-predictor``; defaults are :class:`pipelines.training.train_predictor.TrainOptions`'s (torch loads only on use)."""
    p = sub.add_parser(
        "train-predictor", help="train the learned predictor on (video span, caption) pairs",
        description="Train the learned VL-JEPA predictor on (video span, caption) pairs with the X- and Y-encoders "
                    "frozen. Prints loss, throughput and held-out text-to-clip R@1/R@5; writes "
                    "DIR/predictor.safetensors and DIR/predictor.json, which model.predictor.checkpoint can name.")
    p.add_argument("--data", required=True, metavar="PAIRS.jsonl", help='one {"video", "start", "end", "caption"[, "split"]} per line')
    p.add_argument("--out", default="predictor-run", metavar="DIR", help="checkpoint and token-cache folder (default ./predictor-run)")
    p.add_argument("--config", metavar="FILE", help="YAML laid over the defaults: its model.encoder names the (frozen) X-encoder")
    p.add_argument("--model", metavar="ID_OR_DIR", help="vjepa2 checkpoint (HF id or local dir)")
    p.add_argument("--epochs", type=int, help="passes over the training pairs (default 20)")
    p.add_argument("--batch-size", type=int, help="pairs per step (default 32)")
    p.add_argument("--lr", type=float, help="AdamW learning rate (default 1e-3)")
    p.add_argument("--loss", choices=("infonce", "siglip"), help="bidirectional InfoNCE (default) or SigLIP")
    p.add_argument("--holdout", type=float, help="fraction held out when the data names no split (default 0.2)")
    p.add_argument("--width", type=int, help="predictor width (default 256)")
    p.add_argument("--depth", type=int, help="transformer layers (default 2)")
    p.add_argument("--heads", type=int, help="attention heads (default 4)")
    p.add_argument("--query", help='query tokens the predictor sees (default "describe the scene")')
    p.add_argument("--seed", type=int, help="seed for the split, the order and the initial weights (default 0)")
    p.add_argument("--max-frames", type=int, help="frames read per span, evenly spread (default 16)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.set_defaults(handler=_run_train)
    return p


def _run_train(args: argparse.Namespace) -> int:
    from pipelines.training.train_predictor import run_train

    return run_train(args)


def _add_export_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export-onnx", help="export an X-encoder network to ONNX (dynamic batch, opset 18)",
        description="Export an X-encoder to ONNX (opset 18, dynamic batch). Without --out it goes into the cache "
                    "that --runtime onnx (and auto) reads ($XDG_CACHE_HOME/jepa-stream/onnx, by default "
                    "~/.cache/jepa-stream/onnx), so later runs skip the export.")
    p.add_argument("--config", metavar="FILE", help="YAML laid over the defaults: model.encoder.network names the network")
    p.add_argument("--network", choices=registry.names(), help="network to export (default: the configured one)")
    add_renamed(p, "--encoder", "--network")
    p.add_argument("--model", metavar="ID_OR_DIR", help="vjepa2 checkpoint (HF id or local dir)")
    p.add_argument("--out", metavar="FILE.onnx", help="where to write (default: the cache that --runtime onnx reads)")
    p.set_defaults(handler=_run_export)
    return p


def _run_export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    encoder = config.model.encoder
    if args.network:
        encoder = dataclasses.replace(encoder, network=args.network)
    if args.model:
        encoder = dataclasses.replace(encoder, model=args.model)
    if encoder.model.endswith(".onnx"):  # a file to run, not a checkpoint to export
        encoder = dataclasses.replace(encoder, model="")
    if args.out and not args.out.endswith(".onnx"):
        raise ConfigError(f"--out {args.out}: the file name must end in .onnx")
    network = encoder.network
    try:
        path = registry.export_onnx(encoder, Path(args.out) if args.out else None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"export-onnx: {exc}") from None
    print(f"{path}: {network} encoder, dynamic batch")
    return 0
