"""The ``onnx`` runtime: exported encoders agree with torch (cosine ≥ 0.999 per vector) on the CPU
execution provider, take any batch size, and give the pipeline the same captions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from models.encoders import EncoderConfig, Runtime  # noqa: E402
from models.lite_encoder import LiteClipEncoder, export_lite  # noqa: E402
from models.onnx_runtime import OPSET  # noqa: E402
from models.registry import build_encoder, onnx_cache_path, open_onnx  # noqa: E402
from models.vjepa2_encoder import VJEPA2ClipEncoder, export_vjepa2  # noqa: E402

CPU = EncoderConfig(device="cpu")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def lite_onnx(tmp_path_factory):
    return export_lite(tmp_path_factory.mktemp("onnx") / "lite.onnx")


def test_lite_onnx_matches_torch_per_frame_at_any_batch_size(lite_onnx, photos):
    import onnx

    model = onnx.load(str(lite_onnx))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17 and OPSET >= 17
    onnx_enc = open_onnx(lite_onnx, CPU)
    assert onnx_enc.provider == "CPUExecutionProvider" and onnx_enc.name == "lite/onnx"
    torch_enc = LiteClipEncoder(CPU)
    images = [photos[n] for n in ("chelsea", "coffee", "rocket")]
    got, want = onnx_enc.encode_frames(images), torch_enc.encode_frames(images)
    assert got.shape == want.shape == (3, 1280)
    assert cosines(got, want).min() >= 0.999
    np.testing.assert_allclose(onnx_enc.encode_frames(images[1:2])[0], got[1], atol=1e-4)  # batch 1 = row of batch 3
    clip = onnx_enc.encode_clip(images)
    assert clip.tokens.shape == (3, 1280) and clip.frame_of_token.tolist() == [0, 1, 2]


def test_vjepa2_onnx_matches_torch_per_token(tmp_path):
    from test_vjepa2_encoder import frames, tiny_vjepa2

    model = tiny_vjepa2()
    path = export_vjepa2(tmp_path / "vj.onnx", model)
    onnx_enc = open_onnx(path, CPU)
    torch_enc = VJEPA2ClipEncoder(model)
    assert onnx_enc.encode_frames is None and onnx_enc.name == "vjepa2/onnx"
    clip = frames(6)
    got, want = onnx_enc.encode_clip(clip), torch_enc.encode_clip(clip)
    assert got.tokens.shape == want.tokens.shape == (8, 64)
    assert cosines(got.tokens, want.tokens).min() >= 0.999
    assert got.frame_of_token.tolist() == want.frame_of_token.tolist()
    # Dynamic batch: two clips at once through the raw session.
    pixels = torch.cat([torch_enc.pixel_values(clip)[0], torch_enc.pixel_values(frames(6, seed=1))[0]]).numpy()
    out = onnx_enc.session.run(pixels)
    assert out.shape == (2, 8, 64)
    assert cosines(out[0], want.tokens).min() >= 0.999


def test_onnx_runtime_exports_on_first_use_and_gives_the_same_captions(lite_models, scene_video, monkeypatch, tmp_path):
    from pipelines.config import load_config
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = load_config()
    onnx_cfg = dataclasses.replace(config.model.encoder, runtime=Runtime.ONNX)
    assert not onnx_cache_path(onnx_cfg).exists()
    encoder = build_encoder(onnx_cfg)
    assert onnx_cache_path(onnx_cfg).is_file() and encoder.provider == "CPUExecutionProvider"
    onnx_models = dataclasses.replace(lite_models, encode_frames=encoder.encode_frames, encode_clip=encoder.encode_clip)
    torch_encoder = build_encoder(dataclasses.replace(config.model.encoder, runtime=Runtime.TORCH))
    assert torch_encoder.name == "lite/torch"
    lite_models = dataclasses.replace(lite_models, encode_frames=torch_encoder.encode_frames, encode_clip=torch_encoder.encode_clip)

    source = VideoFileSource(scene_video[0], sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    frames = []
    for frame in source.frames():
        if frame.pts > 14:
            break
        frames.append(frame)
    source.close()
    captions = {}
    for name, stack in (("torch", lite_models), ("onnx", onnx_models)):
        pipe = SelectivePipeline("v", stack, config.clip, config.drift)
        results = [r for f in frames for r in pipe.feed(f)]
        captions[name] = [(r.t_end, r.caption.text) for r in results if r.caption]
        assert len(results) > 20
    assert captions["onnx"] == captions["torch"] and len(captions["torch"]) >= 2


def test_runtime_and_model_options_map_onto_the_config(capsys):
    import argparse

    from pipelines.config import ConfigError, load_config
    from pipelines.cli.options import add_model_options, apply_model_options

    config = load_config()
    ns = argparse.Namespace(model=None, runtime="onnx", predictor_random=False)
    assert apply_model_options(config, ns).model.encoder.runtime is Runtime.ONNX
    ns = argparse.Namespace(model=None, runtime="torch", predictor_random=False)
    assert apply_model_options(config, ns).model.encoder.runtime is Runtime.TORCH
    with pytest.raises(ConfigError, match="packaged weights"):
        apply_model_options(config, argparse.Namespace(model="facebook/x", runtime=None, predictor_random=False))
    vj = load_config("configs/vjepa2.yaml")
    got = apply_model_options(vj, argparse.Namespace(model="/ckpt/dir", runtime="onnx", predictor_random=True)).model
    assert (got.encoder.network, got.encoder.runtime, got.encoder.model, got.predictor.random_init) == ("vjepa2", Runtime.ONNX, "/ckpt/dir", True)
    assert got.predictor.type.value == "learned"  # in place of the profile's label bridge, which the ONNX export could not run
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    assert parser.parse_args(["--runtime", "auto"]).runtime == "auto"
    with pytest.raises(SystemExit) as gone:  # 0.1's spelling: one line naming the new one
        parser.parse_args(["--backend", "onnx"])
    assert gone.value.code == 2 and capsys.readouterr().err == "jepa-stream: error: --backend: renamed to --runtime\n"


def test_the_export_onnx_command_writes_a_loadable_file(tmp_path, capsys):
    from pipelines.cli import main

    out = tmp_path / "lite.onnx"
    assert main(["export-onnx", "--network", "lite", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert open_onnx(out, CPU).network == "lite"
    assert main(["export-onnx", "--out", str(tmp_path / "x.bin")]) == 2
    assert capsys.readouterr().err.strip() == f"jepa-stream: error: --out {tmp_path / 'x.bin'}: the file name must end in .onnx"


def test_vjepa2_from_a_local_checkpoint_exports_by_command_and_on_first_use(tmp_path, monkeypatch, capsys):
    from test_vjepa2_encoder import frames, tiny_vjepa2

    from pipelines.cli import main

    model = tiny_vjepa2(seed=3)
    model.save_pretrained(tmp_path / "ckpt")
    want = VJEPA2ClipEncoder(model).encode_clip(frames(5)).tokens
    out = tmp_path / "vj.onnx"
    assert main(["export-onnx", "--network", "vjepa2", "--model", str(tmp_path / "ckpt"), "--out", str(out)]) == 0
    assert cosines(open_onnx(out, CPU).encode_clip(frames(5)).tokens, want).min() >= 0.999
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first_use = build_encoder(EncoderConfig(network="vjepa2", runtime="onnx", model=str(tmp_path / "ckpt"), device="cpu"))
    assert first_use.name == "vjepa2/onnx" and str(first_use.path).startswith(str(tmp_path / "cache"))
    assert cosines(first_use.encode_clip(frames(5)).tokens, want).min() >= 0.999
