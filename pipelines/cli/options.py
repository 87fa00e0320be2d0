"""Options several commands share: the model stack's and the baseline VLM's.

Exports :func:`add_model_options`, :func:`apply_model_options`, :func:`announce`,
:func:`add_baseline_options` and :func:`baseline_config`.

``--decoder retrieval|vlm`` sets ``model.decoder.type`` and ``--decoder-weights
random|random:tiny|DIR|ID`` ``model.decoder.vlm.weights`` (``random:PRESET`` picks the random
architecture, as ``--baseline-weights`` does).

``--model ID_OR_DIR`` overrides the checkpoint of a network that takes one (``vjepa2``), or names
an exported ``.onnx`` file; ``--runtime auto|torch|onnx`` sets ``model.encoder.runtime``: the
configured network in torch or through onnxruntime (exported on first use into
``$XDG_CACHE_HOME/jepa-stream/onnx`` when no file is named), ``auto`` the network's fastest;
``--predictor-random`` runs the ``learned`` predictor untrained (in place of the configured
predictor, e.g. ``vjepa2``'s label bridge), for latency measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from models import registry
from models.encoders import Runtime
from pipelines.cli.common import add_renamed
from pipelines.config import Config, ConfigError
from pipelines.errors import UsageError

__all__ = ["add_model_options", "apply_model_options", "announce", "add_baseline_options", "baseline_config"]


def add_model_options(parser: argparse.ArgumentParser, decoder_help: str | None = None) -> None:
    """The ``model`` group; ``decoder_help`` replaces what ``--decoder`` says (``bench`` measures with it)."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="ID_OR_DIR", help="vjepa2 checkpoint (HF id or local dir), or an exported .onnx file")
    group.add_argument("--runtime", choices=[r.value for r in Runtime],
                       help="run the encoder in torch or through onnxruntime (exported on first use); auto (the default): "
                            "the network's fastest, onnxruntime for lite")
    add_renamed(group, "--backend", "--runtime")
    group.add_argument("--predictor-random", action="store_true", help="run the learned predictor untrained (latency only; captions are meaningless)")
    group.add_argument("--decoder", choices=("retrieval", "vlm"),
                       help=decoder_help or "model.decoder.type: retrieval labels only, or retrieval labels at once and a VLM "
                                            "sentence later (an enrichment event) for the changes the budget admits")
    group.add_argument("--decoder-weights", metavar="random|DIR|ID",
                       help="model.decoder.vlm.weights: pretrained SmolVLM from a directory or Hugging Face id, or 'random' "
                            "(the SmolVLM-256M architecture, a latency-only stand-in whose text is token ids; "
                            "'random:tiny': a toy size, for tests)")


def apply_model_options(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with ``--model``, ``--runtime``, ``--predictor-random``, ``--decoder`` and
    ``--decoder-weights`` applied (absent options change nothing)."""
    config = _apply_decoder_options(config, args)
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
        if random_init:  # the learned predictor, untrained, whatever the profile's predictor is
            from models.learned_predictor import PredictorType

            predictor = dataclasses.replace(predictor, type=PredictorType.LEARNED, checkpoint="", random_init=True)
        return dataclasses.replace(config, model=dataclasses.replace(m, encoder=encoder, predictor=predictor))
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"model: {exc}") from None


def _apply_decoder_options(config: Config, args: argparse.Namespace) -> Config:
    from pipelines.decoder_config import DecoderType

    kind, weights = getattr(args, "decoder", None), getattr(args, "decoder_weights", None)
    if not (kind or weights):
        return config
    decoder = config.model.decoder
    vlm = decoder.vlm
    if weights:
        preset = vlm.preset
        if weights.startswith("random:"):
            weights, preset = "random", weights.split(":", 1)[1]
        vlm = dataclasses.replace(vlm, weights=weights, preset=preset)
    decoder = dataclasses.replace(decoder, type=DecoderType(kind) if kind else decoder.type, vlm=vlm)
    if weights and decoder.type is not DecoderType.VLM:
        raise ConfigError(f"--decoder-weights {weights}: the decoder is retrieval; add --decoder vlm (or model.decoder.type: vlm)")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, decoder=decoder))


def announce(models, config: Config) -> None:
    """Say on stderr which encoder runs, unless the configuration chose none (the default network, ``runtime: auto``)."""
    default = type(config.model.encoder)()
    if (config.model.encoder.network, config.model.encoder.runtime) != (default.network, default.runtime):
        print(f"jepa-stream: encoder {models.encoder}", file=sys.stderr, flush=True)


def add_baseline_options(parser: argparse.ArgumentParser, what: str = "also caption every clip with SmolVLM in a worker") -> None:
    """``--baseline vlm|none`` (``what`` says what it does) and ``--baseline-weights random|DIR|ID`` (and the caption length)."""
    group = parser.add_argument_group("baseline VLM (captions every clip, for comparison)")
    group.add_argument("--baseline", choices=("vlm", "none"), default="none", help=f"{what} (default: none)")
    group.add_argument(
        "--baseline-weights",
        default="random",
        metavar="random|DIR|ID",
        help="pretrained SmolVLM from a directory or Hugging Face id, or 'random': the SmolVLM-256M architecture "
        "with random weights, a latency-only stand-in whose captions are token ids ('random:tiny': a toy size "
        "of the same classes, for tests) (default: random)",
    )
    group.add_argument("--baseline-max-new-tokens", type=int, default=20, metavar="N", help="tokens per baseline caption (default 20)")


def baseline_config(args: argparse.Namespace):
    """The :class:`~models.vlm.VLMConfig` the options ask for (``None`` for none)."""
    from models.vlm import VLMConfig

    if getattr(args, "baseline", "none") != "vlm":
        return None

    weights, preset = args.baseline_weights, "smolvlm-256m"
    if weights.startswith("random:"):  # random:tiny is the toy architecture the tests use
        weights, preset = "random", weights.split(":", 1)[1]
    try:
        return VLMConfig(weights=weights, preset=preset, max_new_tokens=args.baseline_max_new_tokens)
    except ValueError as exc:
        raise UsageError(f"--baseline: {exc}") from None
