"""Tiny random-init V-JEPA 2 checkpoints of the real ``transformers`` classes, saved like hub ones.

Exports :data:`SSV2_NAMES`, :func:`tiny_config`, :func:`tiny_classifier` and :func:`save_checkpoint`.
No video processor is saved: ``VJEPA2VideoProcessor`` needs torchvision, which the suite does
not install (jepa-stream prepares frames itself, see ``models/vjepa2_encoder.py``).
"""

from __future__ import annotations

from pathlib import Path

SSV2_NAMES = (  # Something-Something-v2 class names, as its checkpoints' id2label writes them
    "Pushing something from left to right",
    "Putting [something] on a surface",
    "Something falling like a rock",
    "Opening something",
    "Turning the camera left while filming something",
)


def tiny_config(labels: tuple[str, ...] = SSV2_NAMES, frames: int = 4, crop: int = 32):
    import transformers

    return transformers.VJEPA2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2.0,
        crop_size=crop, patch_size=16, frames_per_clip=frames, tubelet_size=2,
        pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=4, num_pooler_layers=1,
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
    )


def tiny_classifier(labels: tuple[str, ...] = SSV2_NAMES, bias: list[float] | None = None, seed: int = 0):
    """A random ``VJEPA2ForVideoClassification``; with ``bias``, its classifier ignores the video
    (zero weight) and its logits are ``bias``, so the class probabilities are known exactly."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.VJEPA2ForVideoClassification(tiny_config(labels)).eval()
    if bias is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
    return model


def save_checkpoint(model, directory: Path) -> Path:
    """``save_pretrained`` (which records the class in the config's ``architectures``, as on the hub)."""
    model.save_pretrained(directory)
    return directory
