"""The ``vjepa2`` network: a clip of frames → V-JEPA 2 patch tokens, through ``transformers.VJEPA2Model``.

Exports :data:`NETWORK` (its registration), :data:`DEFAULT_VJEPA2`, :data:`DEFAULT_VJEPA2_CLASSIFIER`
(passed on from :mod:`models.vjepa2_classifier`), :class:`ModelLoadError`,
:func:`load_vjepa2`, :func:`preprocess_clip`, :func:`resample_indices`, :class:`VJEPA2ClipEncoder`
(torch), :class:`VJEPA2OnnxEncoder` (onnxruntime) and :func:`export_vjepa2`.

Frames are prepared as ``VJEPA2VideoProcessor`` does (with OpenCV, not torchvision): the shorter side resized to
``int(crop * 256 / 224)``, centre-cropped to ``crop``, scaled to [0, 1], normalised with
ImageNet mean/std. ``crop`` is the checkpoint's ``config.crop_size``: the HF rotary positions
assume a ``crop_size / patch_size`` grid, so any other size would scramble them. The clip's
frames are resampled (evenly, oldest to newest) to ``frames`` (default: the checkpoint's
``frames_per_clip``). The predictor is skipped (``skip_predictor=True``); tokens are the
encoder's final-LayerNorm patch tokens ``(T/tubelet · (crop/patch)², hidden)``, in time-major order.
On CUDA the network runs under bf16 (or fp16) autocast; tokens come back as float32.

A checkpoint whose config names ``VJEPA2ForVideoClassification`` (an attentive-probe classifier,
e.g. ``facebook/vjepa2-vitl-fpc16-256-ssv2``) loads as one: its backbone gives the tokens and
the encoder gains ``class_logits`` and ``classes`` (:mod:`models.vjepa2_classifier`), which the
label bridge needs; the backbone still runs once per clip.

The ONNX graph is the encoder, ``pixel_values_videos (B, T, 3, crop, crop)`` → ``tokens (B, N,
hidden)``; ``T`` and ``crop`` are fixed at export and stored, with the patch and tubelet sizes,
in its metadata. It holds no classifier head (the label bridge needs ``runtime: torch``; the
configuration refuses ``onnx`` with it). ``runtime: auto`` runs torch (bf16 autocast on a GPU).
torch loads when an encoder is built, not when this file is imported (the config reads
:data:`NETWORK`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.encoders import EncodedClip, EncoderConfig, NetworkSpec, Runtime, resolve_device, resolve_dtype
from models.imagenet import IMAGENET_MEAN, IMAGENET_STD
from models.vjepa2_classifier import DEFAULT_VJEPA2_CLASSIFIER, VJEPA2ClassHead, is_classifier

__all__ = [
    "NETWORK", "DEFAULT_VJEPA2", "DEFAULT_VJEPA2_CLASSIFIER", "ModelLoadError", "load_vjepa2", "preprocess_clip",
    "resample_indices", "VJEPA2ClipEncoder", "VJEPA2OnnxEncoder", "export_vjepa2",
]

DEFAULT_VJEPA2 = "facebook/vjepa2-vitl-fpc64-256"


class ModelLoadError(ValueError):
    """A checkpoint cannot be found or read; the message says what to do."""


def _from_pretrained(name: str, **options):
    """The checkpoint's own class: ``VJEPA2ForVideoClassification`` when its config names it, else ``VJEPA2Model``."""
    from transformers import VJEPA2Config, VJEPA2ForVideoClassification, VJEPA2Model

    config = VJEPA2Config.from_pretrained(name, **options)
    kind = VJEPA2ForVideoClassification if is_classifier(config) else VJEPA2Model
    return kind.from_pretrained(name, config=config, **options)


def load_vjepa2(model: str):
    """``VJEPA2Model`` (or ``VJEPA2ForVideoClassification`` for a classifier checkpoint) from a local
    directory, the local Hugging Face cache, or (if reachable) the hub."""
    model = model or DEFAULT_VJEPA2
    path = Path(model).expanduser()
    if path.is_dir():
        try:
            return _from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"vjepa2 checkpoint {path}: cannot load it ({str(exc).splitlines()[0]})") from None
    if path.suffix or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelLoadError(f"vjepa2 checkpoint {model!r}: no such directory (give a local directory or an HF id like {DEFAULT_VJEPA2})")
    try:
        return _from_pretrained(model, local_files_only=True)
    except OSError:
        pass
    try:  # transformers and the hub library decide: HF_HUB_OFFLINE, HF_ENDPOINT, their own timeouts
        return _from_pretrained(model)
    except OSError as exc:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise ModelLoadError(f"vjepa2 checkpoint {model}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                                 f"download it on a connected machine or pass --model DIR") from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"vjepa2 checkpoint {model}: weights are not in the local cache and the hub cannot be reached ({first}); "
            f"download them with `hf download {model}` on a connected machine, or pass --model DIR"
        ) from None


def resample_indices(n: int, frames: int) -> np.ndarray:
    """Indices of ``frames`` frames spread evenly over ``n`` (repeating frames when ``n < frames``)."""
    return np.round(np.linspace(0, n - 1, frames)).astype(np.int64)


def preprocess_clip(frames: Sequence[np.ndarray], crop: int):
    """``T`` frames ``(H, W, 3)`` uint8 RGB → a torch tensor ``(1, T, 3, crop, crop)`` float32, as VJEPA2VideoProcessor does."""
    import cv2
    import torch

    short = int(crop * 256 / 224)
    out = np.empty((len(frames), 3, crop, crop), dtype=np.float32)
    for i, image in enumerate(frames):
        h, w = image.shape[:2]
        if h <= w:
            rh, rw = short, max(short, int(short * w / h))
        else:
            rh, rw = max(short, int(short * h / w)), short
        # Shrinking: area averaging, close to the processor's antialiased bilinear; enlarging: bilinear.
        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA if min(h, w) > short else cv2.INTER_LINEAR)
        y, x = (rh - crop) // 2, (rw - crop) // 2
        patch = resized[y : y + crop, x : x + crop].astype(np.float32) / 255.0  # (crop, crop, 3)
        out[i] = ((patch - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)  # (3, crop, crop)
    return torch.from_numpy(out)[None]  # (1, T, 3, crop, crop)


class VJEPA2ClipEncoder:
    """``encode_clip(frames)`` → V-JEPA 2 patch tokens ``(N, hidden)``; no per-frame path.

    ``model``: a ``VJEPA2Model``, or a ``VJEPA2ForVideoClassification`` whose backbone gives the
    tokens and whose head gives ``class_logits(tokens) -> (1, C)`` and ``classes``."""

    encode_frames = None  # tokens depend on the whole clip

    def __init__(self, model, config: EncoderConfig = EncoderConfig(), source: str = "in-memory"):
        c = model.config
        self.model = model.eval()
        self.backbone = getattr(model, "vjepa2", model)  # the VJEPA2Model inside a classifier
        self.source = source
        self.crop = int(c.crop_size)
        self.patch = int(c.patch_size if isinstance(c.patch_size, int) else c.patch_size[0])
        self.tubelet = int(c.tubelet_size)
        self.frames = config.frames or int(c.frames_per_clip)
        if self.frames % self.tubelet:
            raise ValueError(f"encoder.frames ({self.frames}) must be a multiple of the tubelet size ({self.tubelet})")
        self.dim = int(c.hidden_size)
        self.device = resolve_device(config.device)
        self.autocast = resolve_dtype(config.dtype, self.device)
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        self.model.to(self.device)
        self.name = "vjepa2/torch"
        if hasattr(model, "classifier"):  # a VJEPA2ForVideoClassification
            try:
                head = VJEPA2ClassHead(model, self.device, self.autocast)
            except ValueError as exc:
                raise ModelLoadError(f"vjepa2 checkpoint {source}: {exc}") from None
            self.class_logits, self.classes = head.class_logits, head.classes

    @classmethod
    def from_config(cls, config: EncoderConfig) -> "VJEPA2ClipEncoder":
        return cls(load_vjepa2(config.model), config, source=config.model or DEFAULT_VJEPA2)

    @property
    def tokens_per_clip(self) -> int:
        return (self.frames // self.tubelet) * (self.crop // self.patch) ** 2

    def pixel_values(self, frames: Sequence[np.ndarray]):
        """The model input ``(1, frames, 3, crop, crop)`` and which input frame each clip frame is."""
        index = resample_indices(len(frames), self.frames)
        return preprocess_clip([frames[i] for i in index], self.crop), index

    def tokens(self, pixel_values):
        """``(B, T, 3, crop, crop)`` → ``(B, N, hidden)`` float32 on the CPU."""
        import torch

        with torch.inference_mode():
            x = pixel_values.to(self.device)
            if self.autocast is not None:
                with torch.autocast("cuda", dtype=self.autocast):
                    out = self.backbone(pixel_values_videos=x, skip_predictor=True)
            else:
                out = self.backbone(pixel_values_videos=x, skip_predictor=True)
            return out.last_hidden_state.float().cpu()

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        if not frames:
            raise ValueError("encode_clip needs at least one frame")
        pixels, index = self.pixel_values(frames)
        tokens = self.tokens(pixels)[0].numpy()  # (N, hidden)
        per_tubelet = (self.crop // self.patch) ** 2
        newest = index[self.tubelet - 1 :: self.tubelet]  # (T/tubelet,): newest input frame of each tubelet
        frame_of_token = np.repeat(newest, per_tubelet)  # (N,)
        return EncodedClip(tokens, tokens.mean(axis=0), frame_of_token)


class VJEPA2OnnxEncoder:
    """``vjepa2``'s exported encoder in onnxruntime; ``provider`` is the execution provider."""

    network = "vjepa2"
    encode_frames = None  # tokens depend on the whole clip

    def __init__(self, session, config: EncoderConfig = EncoderConfig()):
        self.session = session  # an OnnxSession on a vjepa2 export
        self.path, self.provider, meta = self.session.path, self.session.provider, self.session.meta
        self.meta, self.device, self.name = meta, self.provider, "vjepa2/onnx"
        self.dim = int(meta["dim"])
        self.crop, self.patch = int(meta["crop_size"]), int(meta["patch_size"])
        self.tubelet, self.frames = int(meta["tubelet_size"]), int(meta["frames"])

    def encode_clip(self, frames: Sequence[np.ndarray]) -> EncodedClip:
        index = resample_indices(len(frames), self.frames)
        pixels = preprocess_clip([frames[i] for i in index], self.crop).numpy()  # (1, T, 3, crop, crop)
        tokens = self.session.run(pixels)[0]  # (N, hidden)
        newest = index[self.tubelet - 1 :: self.tubelet]
        frame_of_token = np.repeat(newest, (self.crop // self.patch) ** 2)  # (N,)
        return EncodedClip(tokens, tokens.mean(axis=0), frame_of_token)


def export_vjepa2(path: str | Path, model, frames: int = 0) -> Path:
    """Export a ``VJEPA2Model``'s encoder (clips of ``frames`` frames, default the checkpoint's) to
    ``path``; of a ``VJEPA2ForVideoClassification``, its backbone's encoder (not the head)."""
    import torch

    from models.onnx_runtime import NETWORK_KEY, export_graph

    class Tokens(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.encoder = model.encoder

        def forward(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
            return self.encoder(pixel_values_videos=pixel_values_videos).last_hidden_state  # (B, N, hidden)

    c = model.config
    frames = frames or int(c.frames_per_clip)
    patch = int(c.patch_size if isinstance(c.patch_size, int) else c.patch_size[0])
    example = torch.zeros(1, frames, 3, c.crop_size, c.crop_size)
    meta = {
        NETWORK_KEY: "vjepa2",
        "crop_size": c.crop_size,
        "patch_size": patch,
        "tubelet_size": c.tubelet_size,
        "frames": frames,
        "dim": c.hidden_size,
    }
    backbone = getattr(model, "vjepa2", model)
    return export_graph(Tokens(backbone.float().cpu()), example, path, "pixel_values_videos", "tokens", meta)


NETWORK = NetworkSpec(
    name="vjepa2",
    torch=VJEPA2ClipEncoder.from_config,
    onnx=VJEPA2OnnxEncoder,
    export=lambda config, path: export_vjepa2(path, load_vjepa2(config.model), config.frames),
    export_key=lambda config: {"model": config.model or DEFAULT_VJEPA2, "frames": config.frames},
    auto_runtime=Runtime.TORCH,
    class_head=True,  # with a classifier checkpoint
    classifier_example=DEFAULT_VJEPA2_CLASSIFIER,
    checkpoint=True,
)
