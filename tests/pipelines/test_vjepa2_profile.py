"""The ``vjepa2`` profile without training: ``configs/vjepa2.yaml`` with a classifier checkpoint runs the
label bridge through the checkpoint's probe, end to end, on tiny random-init checkpoints saved to disk."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pipelines.config import ConfigError, load_config
from vjepa2kit import SSV2_NAMES, save_checkpoint, tiny_classifier, tiny_config

transformers = pytest.importorskip("transformers")

DOMINANT = 2  # "Something falling like a rock"
BIAS = [0.0, 1.0, 6.0, 0.5, 0.0]


@pytest.fixture(scope="module")
def ssv2_dir(tmp_path_factory):
    """A classifier whose logits are BIAS whatever the video: class DOMINANT takes ~98% of the mass."""
    return save_checkpoint(tiny_classifier(bias=BIAS), tmp_path_factory.mktemp("ckpt") / "tiny-ssv2")


def vjepa2_config(model_dir, **changes):
    config = load_config("configs/vjepa2.yaml")
    encoder = dataclasses.replace(config.model.encoder, model=str(model_dir), **changes)
    return dataclasses.replace(config, model=dataclasses.replace(config.model, encoder=encoder))


def test_the_profile_defaults_to_a_classifier_checkpoint_and_the_label_bridge(tmp_path):
    config = load_config("configs/vjepa2.yaml")
    assert config.model.encoder.model == "facebook/vjepa2-vitl-fpc16-256-ssv2"
    assert config.model.predictor.type.value == "label-bridge" and not config.model.predictor.checkpoint
    path = tmp_path / "onnx.yaml"
    path.write_text("model:\n  encoder:\n    network: vjepa2\n    runtime: onnx\n")
    with pytest.raises(ConfigError, match="label-bridge needs the classifier head, which the vjepa2 ONNX export does not hold: "
                                          "use encoder.runtime torch"):
        load_config(path)
    path.write_text("model:\n  encoder:\n    network: vjepa2\n    runtime: onnx\n  predictor:\n    type: learned\n")
    assert load_config(path).model.encoder.runtime.value == "onnx"  # the learned predictor needs no head


def test_the_bridge_is_the_probability_weighted_action_text_and_the_caption_names_the_top_class(ssv2_dir):
    from models.minilm import load_minilm
    from pipelines.profiles import build_models

    stack = build_models(vjepa2_config(ssv2_dir).model)
    assert stack.decoder.bank.texts == SSV2_NAMES  # actions only: no ImageNet nouns in this profile
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(8, 64)).astype(np.float32)  # (N, hidden): the classifier ignores them
    y = stack.predict(tokens)
    p = np.exp(BIAS) / np.exp(BIAS).sum()
    prompts = [f"a video of {s}." for s in ("someone pushing something from left to right", "someone putting something on a surface",
                                           "something falling like a rock", "someone opening something",
                                           "someone turning the camera left while filming something")]
    text = load_minilm().encode(prompts).numpy()  # (5, 384) unit rows
    expected = p @ text
    np.testing.assert_allclose(y, expected / np.linalg.norm(expected), atol=1e-4)
    assert abs(np.linalg.norm(y) - 1) < 1e-5
    caption = stack.decoder.decode(y)
    assert caption.text == SSV2_NAMES[DOMINANT] and {t for t, _ in caption.labels} <= set(SSV2_NAMES)


def test_the_backbone_runs_once_per_clip_in_the_pipeline(ssv2_dir, scene_video):
    from models.registry import build_encoder
    from pipelines.profiles import build_models
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    config = vjepa2_config(ssv2_dir)
    encoder = build_encoder(config.model.encoder)
    calls = {"backbone": 0, "pooler": 0}
    encoder.backbone.register_forward_hook(lambda *a: calls.__setitem__("backbone", calls["backbone"] + 1))
    encoder.model.pooler.register_forward_hook(lambda *a: calls.__setitem__("pooler", calls["pooler"] + 1))
    pipe = SelectivePipeline("v", build_models(config.model, encoder=encoder), config.clip, config.drift)
    source = VideoFileSource(scene_video[0], sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    results = []
    for frame in source.frames():
        if frame.pts > 8:
            break
        results += pipe.feed(frame)
    source.close()
    assert len(results) >= 7
    assert calls["backbone"] == len(results)  # one backbone pass per clip
    assert len(results) <= calls["pooler"] <= 2 * len(results)  # the probe: the clip, and its newest frames when fewer
    captions = [r.caption for r in results if r.caption is not None]
    assert captions and all(c.text == SSV2_NAMES[DOMINANT] for c in captions)


def test_replay_with_the_profile_and_no_predictor_checkpoint_captions_with_action_names(ssv2_dir, scene_video, tmp_path, capsys):
    from pipelines.cli import main

    out = tmp_path / "events.jsonl"
    code = main(["replay", str(scene_video[0]), "--config", "configs/vjepa2.yaml", "--model", str(ssv2_dir), "--events-out", str(out)])
    assert code == 0, capsys.readouterr().err
    captions = [e for e in map(json.loads, out.read_text().splitlines()) if e["type"] == "caption"]
    assert captions and all(e["text"] == SSV2_NAMES[DOMINANT] for e in captions)
    assert all({label["text"] for label in e["labels"]} <= set(SSV2_NAMES) for e in captions)


def test_a_checkpoint_without_a_classifier_is_one_clear_line(tmp_path, scene_video, capsys):
    from pipelines.cli import main

    plain = save_checkpoint(transformers.VJEPA2Model(tiny_config()).eval(), tmp_path / "encoder-only")
    code = main(["replay", str(scene_video[0]), "--config", "configs/vjepa2.yaml", "--model", str(plain)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (
        f"jepa-stream: error: model.predictor.type: label-bridge needs a classifier head and the vjepa2 checkpoint {plain} "
        "has none; use a checkpoint with a classifier head (such as facebook/vjepa2-vitl-fpc16-256-ssv2) or predictor.type: learned"
    )


def test_the_bank_holds_the_action_names_and_imagenet_names_only_when_asked(ssv2_dir, lite_models):
    from models.retrieval import RetrievalConfig
    from pipelines.profiles import build_models

    assert len(lite_models.decoder.bank) == 1000  # lite's classes are ImageNet's: in the bank once
    config = vjepa2_config(ssv2_dir)
    both = dataclasses.replace(config.model, decoder=RetrievalConfig(imagenet_labels=True, phrases=("a red car",)))
    texts = build_models(both).decoder.bank.texts
    assert texts[:5] == SSV2_NAMES and len(texts) == 5 + 1000 + 1 and texts[-1] == "a red car"
    plain = save_checkpoint(transformers.VJEPA2Model(tiny_config()).eval(), ssv2_dir.parent / "encoder-only")
    learned = load_config("configs/vjepa2.yaml", {"model": {"encoder": {"model": str(plain)}, "predictor": {"type": "learned", "random_init": True}}})
    with pytest.raises(ConfigError, match="model.decoder: the text bank is empty: vjepa2/torch has no classifier for class_labels"):
        build_models(learned.model)
