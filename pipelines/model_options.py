"""Command-line options that choose the model stack, and the ``export-onnx`` command.

Exports :func:`add_model_options`, :func:`apply_model_options`, :func:`announce`,
:func:`add_export_parser` and :func:`run_export`.

``--model ID_OR_DIR`` overrides the checkpoint of a network that takes one (``vjepa2``), or names
an exported ``.onnx`` file; ``--runtime auto|torch|onnx`` sets ``model.encoder.runtime``: the
configured network in torch or through onnxruntime (exported on first use into
``$XDG_CACHE_HOME/jepa-stream/onnx`` when no file is named), ``auto`` the network's fastest;
``--predictor-random`` lets the ``learned`` predictor run untrained, for latency measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from models import registry
from models.encoders import Runtime
from pipelines.config import Config, ConfigError, load_config

__all__ = ["add_model_options", "apply_model_options", "announce", "add_train_parser", "add_export_parser", "run_export"]


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="ID_OR_DIR", help="vjepa2 checkpoint (HF id or local dir), or an exported .onnx file")
    group.add_argument("--runtime", choices=[r.value for r in Runtime],
                       help="run the encoder in torch or through onnxruntime (exported on first use); auto (the default): "
                            "the network's fastest, onnxruntime for lite")
    group.add_argument("--backend", dest="runtime", choices=("torch", "onnx"), help=argparse.SUPPRESS)  # 0.1's name for --runtime
    group.add_argument("--predictor-random", action="store_true", help="run the learned predictor untrained (latency only; captions are meaningless)")


def apply_model_options(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with ``--model``, ``--runtime`` and ``--predictor-random`` applied (absent options change nothing)."""
    model, runtime, random_init = getattr(args, "model", None), getattr(args, "runtime", None), getattr(args, "predictor_random", False)
    if not (model or runtime or random_init):
        return config
    m = config.model
    encoder, predictor = m.encoder, m.predictor
    try:
        if runtime:
            encoder = dataclasses.replace(encoder, runtime=Runtime(runtime))
        if model:
            if not registry.network(encoder.network).checkpoint and not model.endswith(".onnx"):
                raise ConfigError(f"--model {model}: the {encoder.network} network uses its packaged weights "
                                  f"(a vjepa2 checkpoint needs --config configs/vjepa2.yaml)")
            if model.endswith(".onnx"):
                encoder = dataclasses.replace(encoder, runtime=Runtime.ONNX)
            encoder = dataclasses.replace(encoder, model=model)
        if random_init:
            from models.learned_predictor import PredictorType

            if predictor.type is not PredictorType.LEARNED:
                raise ConfigError("--predictor-random: the configured predictor is not the learned one")
            predictor = dataclasses.replace(predictor, checkpoint="", random_init=True)
        return dataclasses.replace(config, model=dataclasses.replace(m, encoder=encoder, predictor=predictor))
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"model: {exc}") from None


def announce(models, config: Config) -> None:
    """Say on stderr which encoder runs, unless the configuration chose none (the default network, ``runtime: auto``)."""
    default = type(config.model.encoder)()
    if (config.model.encoder.network, config.model.encoder.runtime) != (default.network, default.runtime):
        print(f"jepa-stream: encoder {models.encoder}", file=sys.stderr, flush=True)


def add_train_parser(sub) -> argparse.ArgumentParser:
    """``train-predictor``; defaults are :class:`pipelines.train_predictor.TrainOptions`'s (torch loads only on use)."""
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
    from pipelines.train_predictor import run_train

    return run_train(args)


def add_export_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export-onnx", help="export an X-encoder network to ONNX (dynamic batch, opset 18)",
        description="Export an X-encoder to ONNX (opset 18, dynamic batch). Without --out it goes into the cache "
                    "that --runtime onnx (and auto) reads ($XDG_CACHE_HOME/jepa-stream/onnx, by default "
                    "~/.cache/jepa-stream/onnx), so later runs skip the export.")
    p.add_argument("--config", metavar="FILE", help="YAML laid over the defaults: model.encoder.network names the network")
    p.add_argument("--network", "--encoder", dest="network", choices=registry.names(), help="network to export (default: the configured one)")
    p.add_argument("--model", metavar="ID_OR_DIR", help="vjepa2 checkpoint (HF id or local dir)")
    p.add_argument("--out", metavar="FILE.onnx", help="where to write (default: the cache that --runtime onnx reads)")
    p.set_defaults(handler=run_export)
    return p


def run_export(args: argparse.Namespace) -> int:
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
