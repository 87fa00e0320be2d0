"""Config files: laid over the defaults, every key checked, errors name the file and the key."""

from pathlib import Path

import pytest
import yaml

from pipelines.core.clips import ClipConfig
from pipelines.config import Config, ConfigError, load_config
from pipelines.core.drift import DriftConfig, Smoothing


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_the_packaged_default_is_the_lite_profile_with_the_documented_values():
    cfg = load_config()
    assert (cfg.model.encoder.network, cfg.model.encoder.runtime.value) == ("lite", "auto")
    assert (cfg.sampling.fps, cfg.clip.window_s, cfg.clip.stride_s) == (4.0, 2.0, 0.5)
    # The YAML and the dataclass defaults say the same thing.
    assert cfg == Config()


def test_sections_of_the_feed_and_capture_load_from_yaml(tmp_path):
    cfg = load_config(write(tmp_path, "feed:\n  server:\n    port: 9000\n    allowed_origins: [http://a]\n"
                                       "  log:\n    retention_max_events: 10\ncapture:\n  sources:\n    cam7: {buffer_size: 2}\n"))
    assert cfg.feed.server.port == 9000 and cfg.feed.server.allowed_origins == ("http://a",)
    assert cfg.feed.log.retention_max_events == 10
    assert cfg.capture.for_source("cam7").buffer_size == 2 and cfg.capture.for_source("cam0").buffer_size == 8


def test_a_file_changes_only_what_it_names(tmp_path):
    cfg = load_config(write(tmp_path, "drift:\n  threshold: 0.2\n  smoothing: mean\nclip:\n  stride_s: 1\n"))
    assert cfg.drift == DriftConfig(threshold=0.2, smoothing=Smoothing.MEAN)
    assert cfg.clip == ClipConfig(stride_s=1.0)
    assert cfg.model.decoder.top_k == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("drift:\n  treshold: 0.2\n", "c.yaml: drift.treshold: unknown key"),
        ("drift:\n  debounce: two\n", "c.yaml: drift.debounce: expected int, got str 'two'"),
        ("drift:\n  smoothing: gaussian\n", "c.yaml: drift.smoothing: 'gaussian' is not one of: ema, mean, none"),
        ("drift:\n  threshold: 500\n", "c.yaml: drift.threshold: must be a number within (0, 100] for the memory statistic (got 500.0)"),
        ("drift:\n  statistic: cosine\n  threshold: 3\n", "c.yaml: drift.threshold: must be a number within (0, 2] for the cosine statistic (got 3.0)"),
        ("model:\n  decoder:\n    phrases: [ok, 3]\n", "c.yaml: model.decoder.phrases[1]: expected str, got int 3"),
        ("model:\n  encoder:\n    network: huge\n", "c.yaml: model.encoder.network: unknown network 'huge' (available: lite, vjepa2)"),
        ("model:\n  encoder:\n    runtime: tensorrt\n", "c.yaml: model.encoder.runtime: 'tensorrt' is not one of: auto, torch, onnx"),
        ("model:\n  profile: vjepa2\n", "c.yaml: model.profile: no longer a key: use model.encoder.network (lite | vjepa2)"),
        ("sampling: 4\n", "c.yaml: sampling: expected a mapping, got int"),
        ("- a list\n", "c.yaml: expected a mapping at the top, got list"),
        ("drift: [\n", "c.yaml: not valid YAML at line"),
        ("feed:\n  server:\n    max_clients: 5\n", "c.yaml: feed.server.max_clients: unknown key"),
        ("feed:\n  log:\n    retention_days: 3\n", "c.yaml: feed.log.retention_days: unknown key"),
        ("feed:\n  server:\n    client_queue: 0\n", "c.yaml: feed.server.client_queue: must be an integer within 1..65536 (got 0)"),
        ("capture:\n  sources:\n    cam0:\n      bufer: 2\n", "c.yaml: capture.sources.cam0.bufer: unknown key"),
        ("capture:\n  buffer_size: 1000000000\n", "c.yaml: capture.buffer_size: must be an integer within 1..128"),
        ("feed:\n  server:\n    client_queue: 1000000000\n", "c.yaml: feed.server.client_queue: must be an integer within 1..65536 (got 1000000000)"),
        ("feed:\n  server:\n    max_connections: 100000000\n", "c.yaml: feed.server.max_connections: must be an integer within 1..10000 (got 100000000)"),
        ("sampling:\n  max_side: 100000\n", "c.yaml: sampling.max_side: must be 0 (keep) or an integer within 16..4096 (got 100000)"),
        ("clip:\n  window_s: 3600\n", "c.yaml: clip.window_s: must be a number within (0, 60] (got 3600.0)"),
        ("feed:\n  stats_interval_s: .nan\n", "c.yaml: feed.stats_interval_s: must be a finite number, got nan"),
        ("capture:\n  stall_timeout_s: .inf\n", "c.yaml: capture.stall_timeout_s: must be a finite number, got inf"),
        ("capture:\n  stall_timeout_s: 100000.0\n", "c.yaml: capture.stall_timeout_s: must be a number within (0, 3600] (got 100000.0)"),
    ],
)
def test_bad_files_get_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_yaml_syntax_error_names_the_file_once(tmp_path):
    path = write(tmp_path, "drift: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: not valid YAML at line 2"


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("value", ["123456789012345678", "[the-secret-token-value]"])
def test_a_bad_token_in_a_file_is_never_echoed(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"feed:\n  server:\n    token: {value}\n"))
    assert "c.yaml: feed.server.token: wrong type" in str(info.value)
    assert value.strip("[]") not in str(info.value)


def test_a_short_token_is_refused_beyond_loopback_without_showing_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "feed:\n  server:\n    host: 0.0.0.0\n    token: short-secret\n"))
    assert "token of 12 characters: it needs at least 16 beyond loopback" in str(info.value)
    assert "short-secret" not in str(info.value)
    assert load_config(write(tmp_path, "feed:\n  server:\n    token: short-secret\n")).feed.server.token == "short-secret"


def _numeric_keys(data, where=""):
    """Every numeric leaf of a parsed YAML mapping, as (dotted key, nested one-key mapping builder)."""
    for key, value in data.items():
        at = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            yield from _numeric_keys(value, at)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield at


def _nested(key: str, value) -> str:
    lines = key.split(".")
    return "".join(f"{'  ' * i}{part}:\n" for i, part in enumerate(lines[:-1])) + f"{'  ' * (len(lines) - 1)}{lines[-1]}: {value}\n"


_DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "default.yaml").read_text())


@pytest.mark.parametrize("key", sorted(_numeric_keys(_DEFAULTS)))
def test_every_numeric_key_refuses_an_absurd_value_in_the_one_message_shape(tmp_path, key):
    # model.encoder.threads: 1000000 was accepted, and memory grew by 25 MB/s with nothing analysed.
    value = 10**15 if isinstance(_get(_DEFAULTS, key), int) else 1e15
    path = write(tmp_path, _nested(key, value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: must be "), message
    assert message.endswith(("(got 1000000000000000)", "(got 1000000000000000.0)", "(got 1e+15)")), message


def _get(data, key):
    for part in key.split("."):
        data = data[part]
    return data
