"""Configuration: a tree of frozen dataclasses loaded from YAML, every key checked.

Exports :class:`SamplingConfig`, :class:`ModelConfig`, :class:`FeedConfig`, :class:`Config` and
:func:`load_config`, and passes on :class:`ConfigError` and :func:`build` from
:mod:`configs.loader`, which turns YAML into every section's dataclass.

A user's file is laid over the packaged ``configs/default.yaml``: it names only what it changes.
Its string values may name environment variables (``${CAM_PASSWORD}``, :mod:`configs.envsubst`).
Its ``sources:`` list (:mod:`streamer.capture.source_config`) names the cameras of ``run``; their
per-source capture settings join ``capture.sources`` here.
Unknown keys, wrong types and out-of-range values are a :class:`ConfigError` whose one-line
message names the file and the full key (``drift.threshold: must be within (0, 2], got 3``).
Each section's dataclass lives beside the code it configures; this module only joins them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from configs.envsubst import substitute
from configs.loader import ConfigError, build
from models import registry
from models.encoders import EncoderConfig, Runtime
from models.predictor_config import PredictorConfig, PredictorType
from pipelines.core.clips import ClipConfig
from pipelines.decoder_config import DecoderConfig
from pipelines.core.drift import DriftConfig
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.source_config import SourceEntry, split_sources
from streamer.console.console_config import ConsoleConfig, SnapshotConfig
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.server_config import ServerConfig
from streamer.mqtt.config import MqttConfig
from streamer.webhook.config import WebhookConfig

__all__ = ["ConfigError", "SamplingConfig", "ModelConfig", "FeedConfig", "Config", "load_config", "build"]


@dataclass(frozen=True)
class SamplingConfig:
    """``fps``: frames per second of media time the pipeline looks at (default 4); the others are
    decoded but never converted. ``max_side``: frames are scaled down so their longer side is at
    most this many pixels (0 keeps the size; at most 4096)."""

    fps: float = 4.0
    max_side: int = 640

    #: Largest ``max_side``: beyond this a frame costs more to convert and scale than it is worth.
    MAX_SIDE_LIMIT = 4096

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 60:
            raise ValueError(f"fps must be within (0, 60], got {self.fps}")
        if not 0 <= self.max_side <= self.MAX_SIDE_LIMIT:
            raise ValueError(f"max_side must be 0 (keep) or up to {self.MAX_SIDE_LIMIT}, got {self.max_side}")


@dataclass(frozen=True)
class ModelConfig:
    """``encoder.network`` names the X-encoder (``lite``, the embedded CPU default, or ``vjepa2``,
    ``configs/vjepa2.yaml``; any network :mod:`models.registry` holds) and ``encoder.runtime``
    how it runs (``auto``, ``torch`` or ``onnx``). The ``label-bridge`` predictor needs a
    network that can have a classifier head (``lite``: ImageNet; ``vjepa2``: a classifier
    checkpoint, checked when it loads) in a runtime that keeps it (``vjepa2``: torch).
    ``decoder.type`` is ``retrieval`` or ``vlm`` (:mod:`pipelines.decoder_config`)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    #: Keys of earlier versions: the loader's error for one names its replacement.
    RENAMED = {"profile": "model.encoder.network (lite | vjepa2)"}

    def __post_init__(self) -> None:
        try:
            spec = registry.network(self.encoder.network)
        except ValueError as exc:
            raise ValueError(f"encoder.network: {exc}") from None
        if self.predictor.type is PredictorType.LABEL_BRIDGE:
            if not spec.class_head:
                raise ValueError(f"predictor.type label-bridge needs a classifier head; network {spec.name} has none: use predictor.type learned")
            onnx = self.encoder.runtime is Runtime.ONNX or self.encoder.model.endswith(".onnx")
            if onnx and not spec.onnx_class_head:
                raise ValueError(f"predictor.type label-bridge needs the classifier head, which the {spec.name} ONNX export "
                                 f"does not hold: use encoder.runtime torch (or auto) or predictor.type learned")


@dataclass(frozen=True)
class FeedConfig:
    """The event feed of ``jepa-stream run``: the WebSocket server, the durable event log, and
    ``stats_interval_s`` (seconds between ``stats`` events per source; 0 sends none; at most 3600).
    ``embeddings``: publish the continuous embedding stream (one event per clip) for the
    subscribers that ask for it. ``snapshots``: a JPEG per caption beside the log; ``console``:
    the browser page on the feed's port (:mod:`streamer.console`)."""

    server: ServerConfig = field(default_factory=ServerConfig)
    log: EventLogConfig = field(default_factory=lambda: EventLogConfig(path="~/.local/state/jepa-stream/events.sqlite"))
    stats_interval_s: float = 5.0
    embeddings: bool = True
    snapshots: SnapshotConfig = field(default_factory=SnapshotConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    #: Longest ``stats_interval_s``.
    MAX_STATS_INTERVAL_S = 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.stats_interval_s <= self.MAX_STATS_INTERVAL_S:
            raise ValueError(f"stats_interval_s must be 0 (off) or up to {self.MAX_STATS_INTERVAL_S:g} s, "
                             f"got {self.stats_interval_s}")


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``sources`` are the config file's cameras (their capture
    overrides are in ``capture``)."""

    sources: tuple[SourceEntry, ...] = ()
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)


def _merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(text: str, name: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}: not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping at the top, got {type(data).__name__}")
    return data


def _fold_sources(data: dict) -> dict:
    """``data`` with each ``sources`` entry's capture overrides moved to ``capture.sources``."""
    capture = data.get("capture") or {}
    if not isinstance(capture, Mapping):
        return data  # the loader names the problem
    entries, own = split_sources(data.get("sources"), capture)
    per_source = capture.get("sources") or {}
    if not isinstance(per_source, Mapping):
        return {**data, "sources": entries}  # CaptureConfig names the problem
    per_source = {**per_source, **{sid: values for sid, values in own.items() if values}}
    return {**data, "sources": entries, "capture": {**capture, "sources": per_source}}


def load_config(path: str | Path | None = None, overrides: Mapping | None = None) -> Config:
    """The packaged default configuration with the YAML file at ``path`` (if any) laid over it,
    then ``overrides`` (a nested mapping, e.g. from command-line options) over both.
    ``${NAME}`` in the file's strings is taken from ``os.environ``."""
    default = _read_yaml(resources.files("configs").joinpath("default.yaml").read_text(encoding="utf-8"), "default.yaml")
    data, name = default, None
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config ({exc.strerror or exc})") from None
        name = str(p)
        try:
            user = substitute(_read_yaml(text, name), os.environ)
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        data = _merge(default, user)
    if overrides:
        data = _merge(data, overrides)
    try:
        return build(Config, _fold_sources(data), "config")
    except ConfigError as exc:
        message = str(exc).removeprefix("config.").removeprefix("config: ")
        raise ConfigError(f"{name}: {message}" if name else message) from None
