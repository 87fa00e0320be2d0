"""The VLM: SmolVLM (the ``transformers`` Idefics3 classes) captioning one clip's frames.

Exports :data:`PRESETS`, :class:`VLMConfig`, :class:`VLMCaption`,
:class:`VLM` and :func:`load_vlm`.

It has two uses (:mod:`pipelines.vlm`): the baseline captions every clip it is given, with a
fixed ``max_new_tokens``, so that the saving of selective decoding can be measured on the same
stream; the ``vlm`` decoder runs the same model only on drift: :meth:`VLM.caption`
takes a prompt per call (a "what changed" prompt over two frames: the previous decode's and the
newest) and a time limit, after which generation stops at the next token (``timed_out``; the
prefill itself cannot be interrupted).

Weights:

* a local directory or a Hugging Face id (``weights="HuggingFaceTB/SmolVLM-256M-Instruct"``):
  the pretrained model and its processor (image splitting off: one 512 px view per frame, as
  in the random stand-in). An id is fetched only if the user has the network;
* ``weights="random"``: the published SmolVLM-256M architecture (preset ``smolvlm-256m``,
  values below) with random weights and no tokenizer. It is a **latency-only stand-in**: the
  text is the generated token ids, and every caption says so in ``note``. Generation is forced
  to exactly ``max_new_tokens`` tokens (no end-of-sequence), so the timing is that of a
  full-length caption.

The ``smolvlm-256m`` preset is the configuration of ``HuggingFaceTB/SmolVLM-256M-Instruct``
(an ``Idefics3ForConditionalGeneration``):

* vision: SigLIP base-patch16-512 style, hidden 768, 12 layers, 12 heads, MLP 3072, image 512,
  patch 16 (1024 patches);
* connector: pixel shuffle with ``scale_factor`` 4, so 1024 / 16 = 64 image tokens per view;
* text: SmolLM2-135M style Llama, hidden 576, 30 layers, 9 heads, 3 key/value heads, MLP 1536,
  vocabulary 49 280, RMSNorm eps 1e-5, rope theta 100 000, 8192 positions;
* special tokens: ``<image>`` 49190, ``<fake_token_around_image>`` 49189, ``<global-img>`` 49152,
  BOS 1, pad 2.

The ``tiny`` preset is the same classes at toy sizes, for tests.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

__all__ = ["PRESETS", "VLMConfig", "VLMCaption", "VLM", "load_vlm"]

RANDOM_NOTE = "random weights, no tokenizer: text is token ids (latency-only stand-in, {preset} architecture)"

PRESETS: dict[str, dict] = {
    "smolvlm-256m": {
        "config": {
            "vision_config": {
                "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                "image_size": 512, "patch_size": 16, "layer_norm_eps": 1e-6,
            },
            "text_config": {
                "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49280, "rms_norm_eps": 1e-5,
                "rope_theta": 100000.0, "max_position_embeddings": 8192, "pad_token_id": 2, "bos_token_id": 1,
                "eos_token_id": None,
            },
            "scale_factor": 4,
            "image_token_id": 49190,
            "tie_word_embeddings": False,
        },
        "fake_token_id": 49189,
        "global_token_id": 49152,
    },
    "tiny": {
        "config": {
            "vision_config": {
                "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                "image_size": 64, "patch_size": 16,
            },
            "text_config": {
                "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512,
                "pad_token_id": 2, "bos_token_id": 1, "eos_token_id": None,
            },
            "scale_factor": 2,
            "image_token_id": 250,
        },
        "fake_token_id": 251,
        "global_token_id": 252,
    },
}

# Stand-in prompt around the image tokens (arbitrary ids of ordinary text tokens): about the
# length of "<|im_start|>User: … Describe this image briefly.<end_of_utterance>\nAssistant:".
_PROMPT_IDS_BEFORE = (1, 11, 12, 13)
_PROMPT_IDS_AFTER = (21, 22, 23, 24, 25, 26, 27, 28, 29)


@dataclass(frozen=True)
class VLMConfig:
    """``weights``: ``random`` (the preset's architecture, random init) or a local directory or
    Hugging Face id of pretrained weights. ``preset``: the random architecture (default
    ``smolvlm-256m``). ``max_new_tokens``: tokens per caption (default 20). ``frames``: newest
    frames of a clip shown to the model (default 1). ``prompt``: what a pretrained model is asked."""

    weights: str = "random"
    preset: str = "smolvlm-256m"
    max_new_tokens: int = 20
    frames: int = 1
    prompt: str = "Describe this image in one sentence."
    seed: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown baseline preset {self.preset!r} (available: {', '.join(PRESETS)})")
        if not 1 <= self.max_new_tokens <= 512:
            raise ValueError(f"max_new_tokens must be within [1, 512], got {self.max_new_tokens}")
        if not 1 <= self.frames <= 8:
            raise ValueError(f"frames must be within [1, 8], got {self.frames}")
        if not self.weights:
            raise ValueError("weights must be 'random', a directory or a Hugging Face id")


@dataclass(frozen=True)
class VLMCaption:
    """One caption. ``weights`` is ``random`` or ``pretrained``; ``note`` says what the text is
    when it is not a real caption. Latencies in ms: ``prefill`` (image encoding and the prompt,
    up to the first token's logits), ``decode`` (the remaining tokens) and ``total``."""

    text: str
    token_ids: tuple[int, ...]
    weights: str
    note: str | None
    prefill_ms: float
    decode_ms: float
    total_ms: float
    timed_out: bool = False  # generation was stopped by ``max_time_s`` before ``max_new_tokens``


class _FirstCall:
    """A logits processor that notes when generation first asks for logits (prefill done)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, input_ids, scores):
        if self.at is None:
            self.at = time.perf_counter()
        return scores


class VLM:
    """Caption a list of RGB ``uint8`` frames; build it with :func:`load_vlm`."""

    def __init__(self, model, config: VLMConfig, processor=None, preset: dict | None = None):
        self.model = model.eval()
        self.config = config
        self.processor = processor
        self.preset = preset
        self.weights = "random" if processor is None else "pretrained"
        self.note = RANDOM_NOTE.format(preset=config.preset) if processor is None else None
        mc = model.config
        self.image_size = int(mc.vision_config.image_size)
        patches = (self.image_size // int(mc.vision_config.patch_size)) ** 2
        self.image_seq_len = patches // int(mc.scale_factor) ** 2  # tokens per view after pixel shuffle
        self.parameters = sum(p.numel() for p in model.parameters())

    def describe(self) -> dict:
        return {
            "weights": self.weights,
            "source": self.config.weights if self.weights == "pretrained" else f"{self.config.preset} architecture, random init",
            "note": self.note,
            "parameters": self.parameters,
            "max_new_tokens": self.config.max_new_tokens,
            "frames_per_caption": self.config.frames,
            "image_size": self.image_size,
            "image_tokens_per_frame": self.image_seq_len,
        }

    def _random_inputs(self, images: list[np.ndarray]) -> dict:
        s = self.image_size
        views = [cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA) for im in images]
        pixels = torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)  # (N, 3, S, S)
        p = self.preset
        ids = list(_PROMPT_IDS_BEFORE)
        for _ in images:
            ids += [p["fake_token_id"], p["global_token_id"]] + [self.model.config.image_token_id] * self.image_seq_len
        ids += [p["fake_token_id"], *_PROMPT_IDS_AFTER]
        input_ids = torch.tensor([ids])  # (1, L)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "pixel_values": pixels[None]}  # pixel_values (1, N, 3, S, S)

    def _pretrained_inputs(self, images: list[np.ndarray], prompt: str) -> dict:
        from PIL import Image

        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
        prompt = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        return dict(self.processor(text=prompt, images=[[Image.fromarray(im) for im in images]], return_tensors="pt", do_image_splitting=False))

    @torch.inference_mode()
    def caption(self, images: list[np.ndarray], *, prompt: str | None = None, max_time_s: float | None = None) -> VLMCaption:
        """Caption the newest ``config.frames`` of ``images`` (RGB uint8, (H, W, 3) each).

        ``prompt`` replaces ``config.prompt`` for this call (a pretrained model reads it; the
        random stand-in's prompt is fixed token ids). ``max_time_s`` stops generation at the first
        token past that many seconds from the call (``timed_out``): a call that cannot be killed
        still ends about one token step after its limit, or after the prefill if that is longer."""
        from transformers import MaxTimeCriteria, StoppingCriteriaList

        images = list(images)[-self.config.frames :]
        start = time.perf_counter()
        wall_start = time.time()  # MaxTimeCriteria reads time.time()
        inputs = self._random_inputs(images) if self.processor is None else self._pretrained_inputs(images, prompt or self.config.prompt)
        first = _FirstCall()
        n = self.config.max_new_tokens
        kwargs = {"max_new_tokens": n, "do_sample": False, "logits_processor": [first]}
        if max_time_s is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([MaxTimeCriteria(max_time_s, initial_timestamp=wall_start)])
        if self.processor is None:
            kwargs.update(min_new_tokens=n, pad_token_id=self.model.config.text_config.pad_token_id)
        out = self.model.generate(**inputs, **kwargs)
        done = time.perf_counter()
        new = tuple(int(i) for i in out[0, inputs["input_ids"].shape[1] :])
        timed_out = max_time_s is not None and done - start > max_time_s
        if self.processor is None:
            text = " ".join(str(i) for i in new)
        else:
            text = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
        prefill_at = first.at or done
        return VLMCaption(
            text=text,
            token_ids=new,
            weights=self.weights,
            note=self.note,
            prefill_ms=(prefill_at - start) * 1e3,
            decode_ms=(done - prefill_at) * 1e3,
            total_ms=(done - start) * 1e3,
            timed_out=timed_out,
        )


def load_vlm(config: VLMConfig) -> VLM:
    """Build the baseline. ``random`` builds the preset's architecture with random weights (seeded,
    nothing downloaded); anything else is loaded with ``from_pretrained`` on the CPU: a directory
    that exists is read offline, another string is a Hugging Face id. Raises ``ValueError`` with a
    one-line message when the weights cannot be loaded."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    if config.weights == "random":
        preset = PRESETS[config.preset]
        torch.manual_seed(config.seed)
        model = Idefics3ForConditionalGeneration(Idefics3Config(**copy.deepcopy(preset["config"])))
        return VLM(model, config, processor=None, preset=preset)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    local = Path(config.weights).expanduser()
    where = str(local) if local.is_dir() else config.weights
    try:
        processor = AutoProcessor.from_pretrained(where, local_files_only=local.is_dir())
        model = AutoModelForImageTextToText.from_pretrained(where, local_files_only=local.is_dir(), dtype=torch.float32)
    except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors…: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load VLM weights {config.weights!r}: {first}") from None
    return VLM(model, config, processor=processor)
