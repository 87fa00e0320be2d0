"""The learned predictor learns text↔clip retrieval from generated videos, and its checkpoint runs in the pipeline.

Videos come from skimage's photos (chelsea, coffee, rocket, camera) and four synthetic scenes,
rendered through a moving camera by ``tests/videokit.py``; each has a caption that says what
is in it. The lite X-encoder and MiniLM are frozen; training runs a few CPU seconds.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from models.retrieval import RetrievalConfig
from models.learned_predictor import LearnedPredictor, PredictorConfig, PredictorType, query_embeddings
from models.vl_predictor import load_predictor
from pipelines.config import load_config
from pipelines.errors import DataError
from pipelines.training.train_predictor import TrainOptions, read_pairs, retrieval_metrics, train_predictor

SHOTS_PER_SCENE = 4  # the last shot of each scene is held out
SHOT_S = 2.0


def _synthetic(kind: str) -> np.ndarray:
    y, x = np.mgrid[0:300, 0:400]
    if kind == "red":
        img = np.zeros((300, 400, 3), np.uint8)
        img[..., 0] = 200 + (x % 40 < 20) * 30
        return img
    if kind == "checker":
        v = (((x // 40) + (y // 40)) % 2 * 255).astype(np.uint8)
        return np.stack([v, v, v], -1)
    if kind == "stripes":
        s = (x // 25) % 2
        return np.stack([s * 255, s * 220, (1 - s) * 255], -1).astype(np.uint8)
    if kind == "gradient":
        g = (x / 400 * 255).astype(np.uint8)
        return np.stack([g // 4, g, 255 - g], -1).astype(np.uint8)
    raise ValueError(kind)


SCENES = {
    "chelsea": "a tabby cat looking at the camera",
    "coffee": "a cup of coffee on a saucer",
    "rocket": "a rocket on a launch pad",
    "camera": "a black and white photo of a man holding a camera",
    "red": "a plain red surface",
    "checker": "a black and white checkerboard",
    "stripes": "yellow and blue vertical stripes",
    "gradient": "a smooth green to blue colour gradient",
}


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory, photos):
    from videokit import Shot, write_video

    root = tmp_path_factory.mktemp("pairs")
    lines = []
    for n, (name, caption) in enumerate(SCENES.items()):
        image = photos[name] if name in photos else _synthetic(name)
        shots = [
            Shot(image, SHOT_S, zoom=(1.0 - 0.08 * k, 0.6 + 0.05 * k), pan=(-1) ** k * 0.7, shake_px=1.0 * k, seed=k,
                 exposure=(0.9 + 0.04 * k, 1.05), noise=2.0 * (k % 2))
            for k in range(SHOTS_PER_SCENE)
        ]
        write_video(root / f"{name}.mp4", shots, size=(224, 160), fps=8)
        for k in range(SHOTS_PER_SCENE):
            for half in range(2):
                start = k * SHOT_S + half * SHOT_S / 2
                split = "val" if k == SHOTS_PER_SCENE - 1 else "train"
                lines.append({"video": f"{name}.mp4", "start": start, "end": start + SHOT_S / 2, "caption": caption, "split": split})
    path = root / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def trained(pairs_file, tmp_path_factory):
    from models.encoders import EncoderConfig
    from models.lite_encoder import LiteClipEncoder
    from models.minilm import load_minilm

    out = tmp_path_factory.mktemp("run")
    opts = TrainOptions(epochs=4, batch_size=16, lr=1e-3, width=128, depth=2, heads=4, max_frames=2)
    encoder = LiteClipEncoder(EncoderConfig())
    model, info = train_predictor(pairs_file, out, opts, encoder=encoder, text_encoder=load_minilm(), log=lambda m: None, progress=False)
    return out, model, info, encoder


def test_held_out_retrieval_rises_from_chance_to_three_times_chance(trained):
    out, _, info, _ = trained
    before, after = info["history"][0], info["history"][-1]
    chance = before["chance_clip2text_r1"]
    assert chance == pytest.approx(1 / len(SCENES), abs=1e-3)
    assert before["clip2text_r1"] < 2 * chance  # an untrained predictor is near chance
    assert after["clip2text_r1"] >= 3 * chance, info["history"]
    assert after["text2clip_r1"] >= 3 * after["chance_text2clip_r1"], info["history"]
    assert (out / "predictor.safetensors").is_file() and (out / "tokens.safetensors").is_file()
    meta = json.loads((out / "predictor.json").read_text())
    assert meta["config"]["visual_dim"] == 1280 and meta["query"] == "describe the scene"


def test_resume_continues_from_the_saved_epoch_with_cached_tokens(trained, pairs_file, tmp_path):
    import shutil

    from models.minilm import load_minilm

    first, _, info, encoder = trained
    out = shutil.copytree(first, tmp_path / "run")  # the other tests keep the original checkpoint
    logs: list[str] = []
    opts = TrainOptions(**{**info["options"], "epochs": info["options"]["epochs"] + 1})
    _, info2 = train_predictor(pairs_file, out, opts, encoder=encoder, text_encoder=load_minilm(), resume=True, log=logs.append, progress=False)
    assert [h["epoch"] for h in info2["history"]][-2:] == [opts.epochs - 1, opts.epochs]
    assert any("resuming after epoch" in m for m in logs)
    assert not any(m.startswith("encoding") for m in logs)  # every clip came from the token cache


def test_a_reloaded_checkpoint_gives_the_same_outputs_in_the_pipeline(trained, scene_video):
    from pipelines.profiles import build_models
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    out, model, info, encoder = trained
    config = load_config()
    model_cfg = dataclasses.replace(
        config.model,
        predictor=PredictorConfig(type=PredictorType.LEARNED, checkpoint=str(out / "predictor.safetensors")),
        decoder=RetrievalConfig(phrases=tuple(SCENES.values()), imagenet_labels=False),
    )
    reloaded = build_models(model_cfg, encoder=encoder)
    from models.minilm import load_minilm

    in_memory = dataclasses.replace(reloaded, predict=LearnedPredictor(model, query_embeddings(load_minilm(), "describe the scene")))
    path, _ = scene_video
    source = VideoFileSource(path, sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    frames = []
    for frame in source.frames():
        if frame.pts > 6:
            break
        frames.append(frame)
    source.close()
    results = {}
    for name, stack in (("memory", in_memory), ("reloaded", reloaded)):
        pipe = SelectivePipeline("v", stack, config.clip, config.drift)
        results[name] = [r for frame in frames for r in pipe.feed(frame)]
    a, b = results["memory"], results["reloaded"]
    assert len(a) == len(b) >= 10
    np.testing.assert_allclose(np.stack([r.embedding for r in a]), np.stack([r.embedding for r in b]), atol=1e-5)
    assert [r.caption.text if r.caption else None for r in a] == [r.caption.text if r.caption else None for r in b]


def test_retrieval_metrics_on_a_known_case():
    text = torch.eye(3)
    clips = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0.2, 1.0], [1.0, 0.1, 0]])
    m = retrieval_metrics(clips, [0, 1, 1, 0], text)
    assert m["clip2text_r1"] == 0.75 and m["clip2text_r5"] == 1.0
    assert m["text2clip_r1"] == pytest.approx(2 / 3, abs=1e-3)  # caption 2 has no clip


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"video": "x.mp4", "start": 0, "end": 1}', "missing 'caption'"),
        ('{"video": "x.mp4", "start": 2, "end": 1, "caption": "c"}', "need 0 <= start < end"),
        ('{"video": "x.mp4", "start": 0, "end": 1, "caption": "c", "lang": "en"}', "unknown key 'lang'"),
        ("not json", "not JSON"),
    ],
)
def test_bad_pair_lines_are_named(tmp_path, line, message):
    (tmp_path / "x.mp4").write_bytes(b"")
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_pairs(path)
    assert "p.jsonl:1" in str(err.value)


def test_the_train_predictor_command_reuses_cached_tokens_and_reports_retrieval(trained, pairs_file, tmp_path, capsys):
    import shutil

    from pipelines.cli import main

    out = shutil.copytree(trained[0], tmp_path / "cli-run")
    argv = ["train-predictor", "--data", str(pairs_file), "--out", str(out), "--epochs", "1", "--batch-size", "16",
            "--width", "128", "--max-frames", "2"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "predictor.safetensors: loss" in captured.out and "R@1" in captured.out
    assert "encoding" not in captured.err  # the copied token cache served every clip
    assert main(["train-predictor", "--data", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jepa-stream: error: ") and "cannot read training pairs" in err[0]


def test_siglip_loss_also_learns(trained, pairs_file, tmp_path):
    import shutil

    from models.minilm import load_minilm

    first, _, info, encoder = trained
    out = shutil.copytree(first, tmp_path / "siglip")
    for name in ("predictor.safetensors", "predictor.json", "train_state.pt"):
        (out / name).unlink()
    opts = TrainOptions(**{**info["options"], "loss": "siglip", "lr": 2e-3})
    _, got = train_predictor(pairs_file, out, opts, encoder=encoder, text_encoder=load_minilm(), log=lambda m: None, progress=False)
    assert got["history"][-1]["clip2text_r1"] >= 3 * got["history"][-1]["chance_clip2text_r1"], got["history"]


def test_replay_runs_with_the_learned_predictor_from_a_yaml(trained, photos, tmp_path, capsys):
    from pipelines.cli import main
    from videokit import Shot, write_video

    out = trained[0]
    video = tmp_path / "cat_then_rocket.mp4"
    write_video(video, [Shot(photos["chelsea"], 4.0, pan=0.6), Shot(photos["rocket"], 4.0, pan=-0.6)], size=(320, 180), fps=10)
    config = tmp_path / "learned.yaml"
    phrases = "".join(f"      - {json.dumps(c)}\n" for c in SCENES.values())
    config.write_text(
        "model:\n  predictor:\n    type: learned\n"
        f"    checkpoint: {json.dumps(str(out / 'predictor.safetensors'))}\n"
        f"  decoder:\n    imagenet_labels: false\n    phrases:\n{phrases}"
    )
    assert main(["replay", str(video), "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    captions = [line for line in lines if line.startswith("[")]
    assert captions and all(any(c in line for c in SCENES.values()) for line in captions)
    assert "a tabby cat looking at the camera" in captions[0] and "a rocket on a launch pad" in captions[-1]


def test_long_token_sequences_are_cached_as_the_predictor_would_pool_them(tmp_path):
    from models.encoders import EncodedClip
    from models.vl_predictor import VLPredictor, VLPredictorConfig
    from pipelines.training.pairs import Pair, encode_pairs

    rng = np.random.default_rng(0)
    long_tokens = rng.normal(size=(200, 16)).astype(np.float32)

    class LongEncoder:
        name, dim, device, encode_frames = "fake/torch", 16, "cpu", None

        def encode_clip(self, frames):
            return EncodedClip(long_tokens, long_tokens.mean(0), np.zeros(200, int))

    from videokit import Shot, write_video

    video = tmp_path / "v.mp4"
    write_video(video, [Shot(np.zeros((60, 80, 3), np.uint8), 2.0)], size=(64, 48), fps=4)
    (cached,) = encode_pairs([Pair(video, 0.0, 1.0, "c", None)], LongEncoder(), 4.0, 640, 4, tmp_path / "t.safetensors", lambda m: None, 24)
    assert cached.shape == (24, 16)
    net = VLPredictor(VLPredictorConfig(visual_dim=16, query_dim=8, out_dim=8, width=16, heads=2, max_visual_tokens=24)).eval()
    q, qm = torch.zeros(1, 3, 8), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        full = net(torch.from_numpy(long_tokens)[None], torch.ones(1, 200, dtype=torch.bool), q, qm)
        pooled = net(cached[None], torch.ones(1, 24, dtype=torch.bool), q, qm)
    torch.testing.assert_close(full, pooled, atol=1e-5, rtol=0)
