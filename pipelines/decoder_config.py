"""The ``model.decoder`` section: which text decoder speaks when drift fires, and its bounds.

Exports :class:`DecoderType`, :class:`VLMDecoderConfig` and :class:`DecoderConfig`.

``retrieval`` (the default) is the nearest texts of a bank (:mod:`models.retrieval`): instant,
one noun or phrase. ``vlm`` keeps that as the fast first event (the ``caption``) and adds a
worker that asks an image-text-to-text model (SmolVLM, :mod:`models.vlm`) for a
sentence, published later as an ``enrichment`` event linked to the caption
(:mod:`pipelines.vlm.enrichment`). The retrieval keys (``top_k``, ``phrases``, ``imagenet_labels``)
therefore apply with both types. This module imports no torch: the model loads only when the
``vlm`` decoder starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from models.retrieval import RetrievalConfig

__all__ = ["DecoderType", "VLMDecoderConfig", "DecoderConfig"]


class DecoderType(str, Enum):
    RETRIEVAL = "retrieval"
    VLM = "vlm"


@dataclass(frozen=True)
class VLMDecoderConfig:
    """The ``vlm`` decoder (used only with ``type: vlm``).

    ``weights``: ``random`` (the ``preset`` architecture with random weights: a latency-only
    stand-in whose text is token ids, and says so), a local directory or a Hugging Face id of an
    Idefics3-style checkpoint (SmolVLM-256M/500M-Instruct). ``max_new_tokens``: tokens per text
    (at most 512). ``prompt``: what the model is asked about the newest frame. ``change_prompt``:
    asked instead when the source has an earlier decode, with that decode's frame shown first
    and the newest second ("" turns it off: one frame, ``prompt``). ``timeout_s``: generation
    stops at the first token past this (state ``timeout``; at most 600). ``max_pending``: sources
    that may hold a waiting request at once (each source holds at most one: the newest; at most
    256). ``max_per_minute``: VLM texts per source per minute of media time (0: no budget beyond
    what the worker keeps up with; at most 600); ``burst``: how many of them may follow each
    other at once (at most 60). ``end_wait_s``: how long a run that ends waits for the texts
    still pending (at most 3600). ``nice``: the worker thread's scheduling niceness (0-19, Linux),
    so that on a busy CPU the pipeline's steps run before the VLM's (the VLM waits, not them)."""

    weights: str = "random"
    preset: str = "smolvlm-256m"
    max_new_tokens: int = 20
    prompt: str = "Describe this image in one sentence."
    change_prompt: str = (
        "The first image is the scene before, the second is the scene now. "
        "Describe in one sentence what changed."
    )
    timeout_s: float = 30.0
    max_pending: int = 16
    max_per_minute: float = 6.0
    burst: int = 2
    end_wait_s: float = 120.0
    nice: int = 10

    #: Upper bounds of the settings above.
    MAX_NEW_TOKENS = 512
    MAX_TIMEOUT_S = 600.0
    MAX_PENDING = 256
    MAX_PER_MINUTE = 600.0
    MAX_BURST = 60
    MAX_END_WAIT_S = 3600.0
    MAX_NICE = 19

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("weights: must be 'random', a directory or a Hugging Face id")
        if not 1 <= self.max_new_tokens <= self.MAX_NEW_TOKENS:
            raise ValueError(f"max_new_tokens: must be within [1, {self.MAX_NEW_TOKENS}], got {self.max_new_tokens}")
        if not self.prompt.strip():
            raise ValueError("prompt: must not be empty")
        if not 0 < self.timeout_s <= self.MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s: must be within (0, {self.MAX_TIMEOUT_S:g}], got {self.timeout_s}")
        if not 1 <= self.max_pending <= self.MAX_PENDING:
            raise ValueError(f"max_pending: must be within [1, {self.MAX_PENDING}], got {self.max_pending}")
        if not 0 <= self.max_per_minute <= self.MAX_PER_MINUTE:
            raise ValueError(f"max_per_minute: must be 0 (no budget) or up to {self.MAX_PER_MINUTE:g}, got {self.max_per_minute}")
        if not 1 <= self.burst <= self.MAX_BURST:
            raise ValueError(f"burst: must be within [1, {self.MAX_BURST}], got {self.burst}")
        if not 0 <= self.end_wait_s <= self.MAX_END_WAIT_S:
            raise ValueError(f"end_wait_s: must be within [0, {self.MAX_END_WAIT_S:g}], got {self.end_wait_s}")
        if not 0 <= self.nice <= self.MAX_NICE:
            raise ValueError(f"nice: must be within [0, {self.MAX_NICE}], got {self.nice}")


@dataclass(frozen=True)
class DecoderConfig(RetrievalConfig):
    """``type``: ``retrieval`` or ``vlm`` (retrieval labels first, a VLM sentence later). The
    retrieval keys are :class:`~models.retrieval.RetrievalConfig`'s; ``vlm`` is
    :class:`VLMDecoderConfig`."""

    type: DecoderType = DecoderType.RETRIEVAL
    vlm: VLMDecoderConfig = field(default_factory=VLMDecoderConfig)
