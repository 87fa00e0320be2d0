"""The ``vjepa2`` network on tiny random-init ``VJEPA2Config`` models (offline), and on real weights
only when ``JEPA_STREAM_VJEPA2_DIR`` names a local checkpoint."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.encoders import EncoderConfig
from models.registry import build_encoder
from models.vjepa2_encoder import ModelLoadError, VJEPA2ClipEncoder, load_vjepa2, preprocess_clip, resample_indices
from testlimits import TIMEOUT_S

ROOT = Path(__file__).resolve().parents[2]

transformers = pytest.importorskip("transformers")


def tiny_vjepa2(frames: int = 4, crop: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.VJEPA2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2.0,
        crop_size=crop, patch_size=16, frames_per_clip=frames, tubelet_size=2,
        pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=4, num_pooler_layers=1,
    )
    return transformers.VJEPA2Model(config).eval()


def frames(n: int, seed: int = 0, size=(90, 160)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def test_tokens_are_the_models_own_encoder_output():
    model = tiny_vjepa2()
    encoder = VJEPA2ClipEncoder(model, EncoderConfig(network="vjepa2", device="cpu"))
    clip = frames(7)
    got = encoder.encode_clip(clip)
    pixels, index = encoder.pixel_values(clip)
    assert pixels.shape == (1, 4, 3, 32, 32)  # frames_per_clip and crop_size from the checkpoint's config
    with torch.no_grad():
        direct = model(pixel_values_videos=pixels, skip_predictor=True).last_hidden_state[0].numpy()
    assert got.tokens.shape == direct.shape == (2 * 2 * 2, 64)  # (T/tubelet · (crop/patch)², hidden)
    assert np.abs(got.tokens - direct).max() <= 1e-5
    np.testing.assert_allclose(got.pooled, direct.mean(0), atol=1e-6)
    # Token rows know the newest input frame of their tubelet: the last tubelet ends on the last frame.
    assert got.frame_of_token.tolist() == [index[1]] * 4 + [6] * 4


def test_frames_setting_overrides_the_clip_length():
    encoder = VJEPA2ClipEncoder(tiny_vjepa2(frames=4), EncoderConfig(network="vjepa2", frames=8))
    assert encoder.encode_clip(frames(3)).tokens.shape == (4 * 4, 64)
    with pytest.raises(ValueError, match="multiple of the tubelet"):
        VJEPA2ClipEncoder(tiny_vjepa2(), EncoderConfig(network="vjepa2", frames=3))


def test_preprocessing_resizes_the_short_side_crops_and_normalises_like_the_video_processor():
    grey = [np.full((100, 200, 3), 128, np.uint8)]
    x = preprocess_clip(grey, 32)
    assert x.shape == (1, 1, 3, 32, 32)
    expected = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, 0, :, 16, 16].numpy(), expected, atol=1e-5)
    # A left-to-right ramp: the centre crop keeps the middle columns (short side → 36, crop 32).
    ramp = np.tile(np.linspace(0, 255, 400).astype(np.uint8)[None, :, None], (200, 1, 3))
    mid = preprocess_clip([ramp], 32)[0, 0, 0, 16].numpy() * 0.229 + 0.485
    assert 0.4 < mid.mean() < 0.6 and np.all(np.diff(mid) > 0)
    assert resample_indices(3, 8).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


def test_a_local_directory_loads_through_the_config(tmp_path):
    model = tiny_vjepa2()
    model.save_pretrained(tmp_path / "ckpt")
    encoder = build_encoder(EncoderConfig(network="vjepa2", model=str(tmp_path / "ckpt")))
    reference = VJEPA2ClipEncoder(model)
    clip = frames(5)
    assert np.abs(encoder.encode_clip(clip).tokens - reference.encode_clip(clip).tokens).max() <= 1e-5
    assert encoder.encode_frames is None and encoder.name == "vjepa2/torch"


#: The hub library retries a refused connection five times with backoff (1+2+4+8+8 s of sleep)
#: before it gives up, on top of importing transformers: allow for both beyond the usual timeout.
_HUB_RETRIES_S = 23.0


def _load_in_a_fresh_interpreter(env: dict) -> subprocess.CompletedProcess:
    """``load_vjepa2`` of the default id in a new process, so the hub library reads ``env`` at its import."""
    return subprocess.run(
        [sys.executable, "-c", "from models.vjepa2_encoder import load_vjepa2; load_vjepa2('facebook/vjepa2-vitl-fpc64-256')"],
        capture_output=True, text=True, timeout=TIMEOUT_S + _HUB_RETRIES_S, cwd=ROOT, env={**os.environ, **env},
    )


def test_missing_weights_without_a_network_are_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no such directory"):
        load_vjepa2(str(tmp_path / "nowhere"))
    offline = _load_in_a_fresh_interpreter({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert re.search(r"ModelLoadError: .*not in the local Hugging Face cache.*--model DIR", offline.stderr), offline.stderr[-2000:]
    port = socket.socket()
    port.bind(("127.0.0.1", 0))  # held, never listening: a hub that refuses connections, on loopback
    try:
        refused = _load_in_a_fresh_interpreter({"HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
                                                "HF_ENDPOINT": f"http://127.0.0.1:{port.getsockname()[1]}"})
    finally:
        port.close()
    assert re.search(r"ModelLoadError: .*hub cannot be reached.*hf download", refused.stderr), refused.stderr[-2000:]


def test_the_cli_reports_a_missing_checkpoint_in_one_line(tmp_path, capsys, monkeypatch):
    from pipelines.cli import main
    from videokit import Shot, write_video

    video = tmp_path / "v.mp4"
    write_video(video, [Shot(np.zeros((60, 80, 3), np.uint8), 1.0)], size=(64, 48), fps=4)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["replay", str(video), "--config", "configs/vjepa2.yaml", "--model", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("jepa-stream: error: model.encoder: vjepa2 checkpoint") and "no such directory" in err[-1]


def test_the_vjepa2_profile_runs_in_the_pipeline_with_a_learned_predictor(scene_video):
    from models.learned_predictor import PredictorConfig, PredictorType
    from models.retrieval import RetrievalConfig
    from pipelines.config import ConfigError, load_config
    from pipelines.profiles import build_models
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    config = load_config("configs/vjepa2.yaml")
    encoder = VJEPA2ClipEncoder(tiny_vjepa2())  # encoder only: no classifier head for the profile's label bridge
    model_cfg = dataclasses.replace(config.model, decoder=RetrievalConfig(phrases=("a cat", "a cup of coffee"), imagenet_labels=False))
    with pytest.raises(ConfigError, match="label-bridge needs a classifier head.*or predictor.type: learned"):
        build_models(model_cfg, encoder=encoder)
    model_cfg = dataclasses.replace(model_cfg, predictor=PredictorConfig(type=PredictorType.LEARNED))
    with pytest.raises(ConfigError, match="needs a checkpoint.*--predictor-random"):
        build_models(model_cfg, encoder=encoder)
    model_cfg = dataclasses.replace(model_cfg, predictor=PredictorConfig(type=PredictorType.LEARNED, random_init=True))
    stack = build_models(model_cfg, encoder=encoder)
    assert stack.encode_frames is None and stack.encoder == "vjepa2/torch on cpu"
    pipe = SelectivePipeline("v", stack, config.clip, config.drift)
    source = VideoFileSource(scene_video[0], sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    results = []
    for frame in source.frames():
        if frame.pts > 5:
            break
        results += pipe.feed(frame)
    source.close()
    assert len(results) >= 4
    assert all(r.embedding.shape == (384,) and abs(np.linalg.norm(r.embedding) - 1) < 1e-4 for r in results)
    assert results[0].caption is not None and results[0].caption.text in ("a cat", "a cup of coffee")


def test_old_and_unknown_encoder_keys_are_refused(tmp_path):
    from pipelines.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("model:\n  encoder:\n    backend: vjepa2\n")  # 0.1's key: the error names the new ones
    with pytest.raises(ConfigError, match=r"model\.encoder\.backend: no longer a key: use model\.encoder\.network .* and model\.encoder\.runtime"):
        load_config(path)
    path.write_text("model:\n  encoder:\n    precision: half\n")
    with pytest.raises(ConfigError, match=r"model\.encoder\.precision: unknown key"):
        load_config(path)


REAL_DIR = os.environ.get("JEPA_STREAM_VJEPA2_DIR")


@pytest.mark.skipif(not REAL_DIR, reason="real V-JEPA 2 weights: set JEPA_STREAM_VJEPA2_DIR to a local checkpoint directory")
def test_real_weights_from_a_local_directory(photos):
    encoder = build_encoder(EncoderConfig(network="vjepa2", model=REAL_DIR, frames=16))
    cat = encoder.encode_clip([photos["chelsea"]] * 8)
    cat2 = encoder.encode_clip([photos["chelsea"][:, ::-1].copy()] * 8)
    cup = encoder.encode_clip([photos["coffee"]] * 8)
    assert cat.tokens.shape == (encoder.tokens_per_clip, encoder.dim)

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cos(cat.pooled, cat2.pooled) > cos(cat.pooled, cup.pooled)
