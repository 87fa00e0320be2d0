"""The one way a run, the bench or a benchmark loads the VLM, with one shape of error.

Exports :func:`open_vlm` and :func:`load_decoder_vlm`.

Torch and ``transformers`` load only when these are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.decoder_config import VLMDecoderConfig
from pipelines.errors import UsageError

if TYPE_CHECKING:
    from models.vlm import VLM, VLMConfig

__all__ = ["open_vlm", "load_decoder_vlm"]


def open_vlm(config: VLMConfig, key: str = "") -> VLM:
    """The model of ``config`` (:func:`models.vlm.load_vlm`). Weights that cannot load are a
    :class:`UsageError`: ``<key>: cannot load VLM weights '<weights>': <why>`` (without ``key``,
    the message alone), one line."""
    from models.vlm import load_vlm

    try:
        return load_vlm(config)
    except ValueError as exc:
        raise UsageError(f"{key}: {exc}" if key else str(exc)) from None


def load_decoder_vlm(config: VLMDecoderConfig) -> VLM:
    """The model of the ``vlm`` decoder's ``config``: two frames with a change prompt, else one.
    A bad preset is a :class:`UsageError` naming ``model.decoder.vlm``, weights that cannot load
    one naming ``model.decoder.vlm.weights``."""
    from models.vlm import VLMConfig

    try:
        model_config = VLMConfig(
            weights=config.weights, preset=config.preset, max_new_tokens=config.max_new_tokens,
            frames=2 if config.change_prompt else 1, prompt=config.prompt,
        )
    except ValueError as exc:
        raise UsageError(f"model.decoder.vlm: {exc}") from None
    return open_vlm(model_config, "model.decoder.vlm.weights")
