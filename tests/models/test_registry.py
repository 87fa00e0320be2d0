"""The encoder registry: a new network is one file plus one registration line; ``runtime: auto``
runs lite through onnxruntime (exported once into the cache) and falls back to torch with one
warning; the models package has no import cycle."""

from __future__ import annotations

import ast
import dataclasses
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from models import registry
from models.encoders import EncodedClip, EncoderConfig, NetworkSpec, Runtime, per_frame_clip


class ColourGrid:
    """A trivial network: the mean colour of each cell of a 4×4 grid, one 48-d token per frame."""

    name, dim, device = "colour/torch", 48, "cpu"

    def __init__(self, config: EncoderConfig):
        self.encode_frames = self._encode_frames

    def _encode_frames(self, frames) -> np.ndarray:
        out = []
        for f in frames:
            h, w = f.shape[0] // 4 * 4, f.shape[1] // 4 * 4
            cells = f[:h, :w].reshape(4, h // 4, 4, w // 4, 3).mean(axis=(1, 3))  # (4, 4, 3)
            out.append(cells.reshape(-1) / 255.0)  # (48,)
        return np.asarray(out, dtype=np.float32).reshape(len(frames), 48)

    def encode_clip(self, frames) -> EncodedClip:
        return per_frame_clip(self._encode_frames(frames))


COLOUR = NetworkSpec(name="colour", torch=ColourGrid)  # what a network's file declares


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(registry, "_NETWORKS", dict(registry._NETWORKS))  # registrations end with the test


def test_a_network_registered_in_one_line_builds_a_model_stack(fresh_registry, scene_video, tmp_path):
    from pipelines.config import ConfigError, load_config
    from pipelines.profiles import build_models
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    path = tmp_path / "colour.yaml"
    path.write_text("model:\n  encoder:\n    network: colour\n  predictor:\n    type: learned\n    random_init: true\n"
                    "  decoder:\n    imagenet_labels: false\n    phrases: [a cat, a cup of coffee]\n")
    with pytest.raises(ConfigError, match=r"model\.encoder\.network: unknown network 'colour' \(available: lite, vjepa2\)"):
        load_config(path)
    registry.register(COLOUR)  # the one registration line
    config = load_config(path)
    assert registry.names() == ["colour", "lite", "vjepa2"]
    stack = build_models(config.model)
    assert (stack.profile, stack.encoder) == ("colour", "colour/torch on cpu")
    pipe = SelectivePipeline("v", stack, config.clip, config.drift)
    source = VideoFileSource(scene_video[0], sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    results = []
    for frame in source.frames():
        if frame.pts > 4:
            break
        results += pipe.feed(frame)
    source.close()
    assert len(results) >= 4 and all(r.embedding.shape == (384,) for r in results)
    assert results[0].caption is not None and results[0].caption.text in ("a cat", "a cup of coffee")
    # The label bridge needs a classifier head, which this network does not declare.
    path.write_text("model:\n  encoder:\n    network: colour\n")
    with pytest.raises(ConfigError, match="label-bridge needs a classifier head; network colour has none: use predictor.type learned"):
        load_config(path)
    # A network without an export has no ONNX runtime: asked for, an error; auto runs torch.
    with pytest.raises(ValueError, match="network colour has no ONNX runtime"):
        registry.build_encoder(EncoderConfig(network="colour", runtime="onnx"))
    assert registry.build_encoder(EncoderConfig(network="colour")).name == "colour/torch"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(dataclasses.replace(COLOUR))


def test_auto_runs_lite_through_onnxruntime_exported_once_into_the_cache(lite_models):
    config = EncoderConfig()
    assert config.runtime is Runtime.AUTO
    assert lite_models.encoder == "lite/onnx on CPUExecutionProvider"
    path = registry.onnx_cache_path(config)
    assert path.is_file() and str(path).startswith(os.environ["XDG_CACHE_HOME"])  # the tests' own cache
    stamp = path.stat().st_mtime_ns
    assert registry.build_encoder(config).name == "lite/onnx" and path.stat().st_mtime_ns == stamp  # not exported again
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []


def test_auto_falls_back_to_torch_in_one_warning_when_the_export_fails(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache cannot be created
    with caplog.at_level(logging.INFO, logger="models"):
        encoder = registry.build_encoder(EncoderConfig(device="cpu"))
    assert encoder.name == "lite/torch"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].getMessage().startswith("the lite encoder runs in torch: its ONNX export failed (")
    with pytest.raises(OSError):  # asked for explicitly, the failure is the user's to see
        registry.build_encoder(EncoderConfig(device="cpu", runtime="onnx"))


def test_auto_falls_back_to_torch_in_one_warning_without_onnxruntime(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with caplog.at_level(logging.WARNING, logger="models"):
        encoder = registry.build_encoder(EncoderConfig(device="cpu"))
    assert encoder.name == "lite/torch"
    assert [r.getMessage() for r in caplog.records] == ["onnxruntime is not installed: the lite encoder runs in torch"]


def test_the_models_package_has_no_import_cycle():
    root = Path(__file__).resolve().parents[2] / "models"
    graph = {}
    for path in root.glob("*.py"):
        name = f"models.{path.stem}"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "models":
                    deps |= {f"models.{a.name}" for a in node.names}
                elif node.module.startswith("models."):
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("models.")}
        graph[name] = deps - {name}

    def visit(node, trail):
        if node in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(node):] + [node]))
        for dep in graph.get(node, ()):
            visit(dep, trail + [node])

    for module in graph:
        visit(module, [])
    assert not graph["models.encoders"] & {"models.registry", "models.lite_encoder", "models.vjepa2_encoder", "models.onnx_runtime"}
