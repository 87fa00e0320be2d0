"""The baseline VLM: the real Idefics3 classes at a tiny size (random weights), and the 256M preset."""

import numpy as np
import pytest

from models.vlm import PRESETS, VLMConfig, load_vlm


@pytest.fixture(scope="module")
def tiny():
    return load_vlm(VLMConfig(preset="tiny", max_new_tokens=6))


def test_random_weights_caption_exactly_max_new_tokens_and_say_what_they_are(tiny):
    image = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    c = tiny.caption([image])
    assert len(c.token_ids) == 6 and c.text == " ".join(map(str, c.token_ids))
    assert c.weights == "random" and "random weights, no tokenizer: text is token ids" in c.note
    assert 0 < c.prefill_ms <= c.total_ms and c.decode_ms >= 0
    assert c.total_ms == pytest.approx(c.prefill_ms + c.decode_ms, rel=1e-6)


def test_the_image_token_count_follows_the_pixel_shuffle(tiny):
    # 64 px / 16 px patches = 16 patches, scale factor 2 → 4 image tokens per frame.
    assert tiny.image_seq_len == 4
    d = tiny.describe()
    assert d["weights"] == "random" and d["image_tokens_per_frame"] == 4 and d["max_new_tokens"] == 6


def test_several_frames_per_caption(tmp_path):
    vlm = load_vlm(VLMConfig(preset="tiny", max_new_tokens=3, frames=2))
    images = [np.zeros((90, 160, 3), np.uint8), np.full((90, 160, 3), 200, np.uint8), np.ones((90, 160, 3), np.uint8)]
    assert len(vlm.caption(images).token_ids) == 3


def test_the_256m_preset_is_the_published_smolvlm_256m_architecture():
    from transformers import Idefics3Config

    c = Idefics3Config(**PRESETS["smolvlm-256m"]["config"])
    v, t = c.vision_config, c.text_config
    assert (v.hidden_size, v.num_hidden_layers, v.num_attention_heads, v.image_size, v.patch_size) == (768, 12, 12, 512, 16)
    assert (t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads) == (576, 30, 9, 3)
    assert (t.intermediate_size, t.vocab_size, c.scale_factor, c.image_token_id) == (1536, 49280, 4, 49190)


@pytest.mark.parametrize("bad", [dict(preset="huge"), dict(max_new_tokens=0), dict(frames=0), dict(weights="")])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        VLMConfig(**bad)


def test_weights_that_cannot_be_loaded_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="cannot load VLM weights") as info:
        load_vlm(VLMConfig(weights=str(tmp_path)))
    assert "\n" not in str(info.value)


def test_pretrained_weights_load_from_a_local_directory_with_their_processor(tmp_path):
    # A saved model + processor stands in for a downloaded SmolVLM directory (tests/vlmkit.py).
    from vlmkit import save_tiny_pretrained_vlm

    save_tiny_pretrained_vlm(tmp_path)

    vlm = load_vlm(VLMConfig(weights=str(tmp_path), max_new_tokens=5))
    c = vlm.caption([np.zeros((90, 160, 3), np.uint8)])
    assert c.weights == "pretrained" and c.note is None and vlm.describe()["weights"] == "pretrained"
    assert 1 <= len(c.token_ids) <= 5 and isinstance(c.text, str)
