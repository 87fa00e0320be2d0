"""The ``vjepa2`` classifier head on tiny random-init ``VJEPA2ForVideoClassification`` checkpoints (offline):
one backbone pass gives the tokens, the checkpoint's own probe gives the logits, its id2label the names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.encoders import EncoderConfig
from models.registry import build_encoder
from models.vjepa2_classifier import class_names, class_phrase
from models.vjepa2_encoder import VJEPA2ClipEncoder
from vjepa2kit import SSV2_NAMES, save_checkpoint, tiny_classifier, tiny_config

transformers = pytest.importorskip("transformers")


def frames(n: int, seed: int = 0, size=(90, 160)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def test_ssv2_names_become_phrases_that_read_after_a_video_of():
    assert class_phrase("Pushing something from left to right") == "someone pushing something from left to right"
    assert class_phrase("Putting [something] on a  surface") == "someone putting something on a surface"
    assert class_phrase("Something falling like a rock") == "something falling like a rock"  # a noun, not a verb
    assert class_phrase("Opening something") == "someone opening something"
    names = class_names(tiny_config())
    assert names.labels == SSV2_NAMES  # shown as the checkpoint writes them
    assert names.prompts()[0] == "a video of someone pushing something from left to right."
    assert names.prompts("clip: {}")[2] == "clip: something falling like a rock"


def test_a_classifier_checkpoint_loads_with_its_head_and_gives_the_models_own_logits(tmp_path):
    model = tiny_classifier()
    encoder = build_encoder(EncoderConfig(network="vjepa2", model=str(save_checkpoint(model, tmp_path / "ssv2"))))
    assert encoder.classes.labels == SSV2_NAMES and encoder.name == "vjepa2/torch"
    clip = frames(7)
    encoded = encoder.encode_clip(clip)
    assert encoded.tokens.shape == (2 * 2 * 2, 64)  # (T/tubelet · (crop/patch)², hidden)
    logits = encoder.class_logits(encoded.tokens)
    assert logits.shape == (1, len(SSV2_NAMES))  # one row per clip
    pixels, _ = encoder.pixel_values(clip)
    with torch.no_grad():
        direct = model(pixel_values_videos=pixels).logits.numpy()  # the HF classifier end to end
    np.testing.assert_allclose(logits, direct, atol=1e-4)
    # The probe takes any number of tokens: the newest tubelet alone (a caption's window).
    assert encoder.class_logits(encoded.tokens[encoded.frame_of_token == 6]).shape == (1, len(SSV2_NAMES))


def test_the_backbone_runs_once_per_clip_and_the_head_never_runs_it():
    encoder = VJEPA2ClipEncoder(tiny_classifier())
    calls = []
    encoder.backbone.register_forward_hook(lambda *a: calls.append("backbone"))
    encoder.model.pooler.register_forward_hook(lambda *a: calls.append("pooler"))
    encoded = encoder.encode_clip(frames(6))
    encoder.class_logits(encoded.tokens)
    encoder.class_logits(encoded.tokens[:4])
    assert calls == ["backbone", "pooler", "pooler"]


def test_an_encoder_only_checkpoint_has_no_head(tmp_path):
    plain = transformers.VJEPA2Model(tiny_config()).eval()
    encoder = build_encoder(EncoderConfig(network="vjepa2", model=str(save_checkpoint(plain, tmp_path / "enc"))))
    assert not hasattr(encoder, "class_logits") and not hasattr(encoder, "classes")
    assert encoder.encode_clip(frames(4)).tokens.shape == (8, 64)


def test_the_onnx_export_of_a_classifier_checkpoint_is_its_backbone(tmp_path):
    pytest.importorskip("onnxruntime")
    from models.registry import export_onnx, open_onnx

    directory = save_checkpoint(tiny_classifier(), tmp_path / "ssv2")
    config = EncoderConfig(network="vjepa2", model=str(directory))
    onnx = open_onnx(export_onnx(config, tmp_path / "v.onnx"), config, expect="vjepa2")
    torch_encoder = build_encoder(config)
    clip = frames(5)
    assert np.abs(onnx.encode_clip(clip).tokens - torch_encoder.encode_clip(clip).tokens).max() <= 1e-4
    assert not hasattr(onnx, "class_logits")  # the head stays out of the export
