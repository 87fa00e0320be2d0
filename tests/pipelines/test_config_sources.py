"""The config file's cameras: the `sources:` list, ${ENV_VAR} in strings, and how `run` joins
them with --source. Secrets from the environment never show in a message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.cli.analyse import _run_sources
from pipelines.cli.common import REDACT
from pipelines.config import ConfigError, load_config
from pipelines.errors import UsageError
from streamer.capture.capture_config import RtspTransport
from streamer.capture.source_spec import SourceKind
from streamer.redact import redact
from testlimits import TIMEOUT_S

SECRET = "pa55-w0rd-from-env"


def write(tmp_path, text):
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("DOOR_PASSWORD", SECRET)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)


def test_sources_with_ids_urls_and_their_own_capture_overrides(tmp_path, env):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    cfg = load_config(write(tmp_path, (
        "capture:\n  stall_timeout_s: 20\n"
        "sources:\n"
        "  - id: door\n    url: rtsp://viewer:${DOOR_PASSWORD}@10.0.0.5/stream1\n    rtsp_transport: udp\n"
        f"  - {{id: lobby, url: '0', buffer_size: 2}}\n  - {{id: replay, url: {video}}}\n")))
    specs = [e.spec() for e in cfg.sources]
    assert [(s.id, s.kind) for s in specs] == [("door", SourceKind.STREAM), ("lobby", SourceKind.WEBCAM),
                                               ("replay", SourceKind.FILE)]
    assert specs[0].target == f"rtsp://viewer:{SECRET}@10.0.0.5/stream1"
    door, lobby, replay = (cfg.capture.for_source(i) for i in ("door", "lobby", "replay"))
    assert door.rtsp_transport is RtspTransport.UDP and door.stall_timeout_s == 20  # laid over the section
    assert lobby.buffer_size == 2 and lobby.rtsp_transport is RtspTransport.TCP
    assert replay == cfg.capture  # no overrides of its own
    assert SECRET not in repr(cfg.sources) + repr(specs)  # reprs leave the URL out
    assert cfg.sources[0].label == "rtsp://viewer:***@10.0.0.5/stream1"


def test_env_substitution_everywhere_with_escapes(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_DIR", str(tmp_path))
    monkeypatch.setenv("PHRASE", "forklift")
    cfg = load_config(write(tmp_path, (
        "feed:\n  log:\n    path: ${LOG_DIR}/events.sqlite\n"
        "model:\n  decoder:\n    phrases: ['a ${PHRASE}', 'cost: $${PHRASE}', 'keep $ and {} and $x']\n")))
    assert cfg.feed.log.path == f"{tmp_path}/events.sqlite"
    assert cfg.model.decoder.phrases == ("a forklift", "cost: ${PHRASE}", "keep $ and {} and $x")


@pytest.mark.parametrize("text, message", [
    ("sources:\n  - {id: door, url: 'rtsp://u:${NOT_SET_ANYWHERE}@h/s'}\n",
     "site.yaml: sources[0].url: environment variable NOT_SET_ANYWHERE is not set"),
    ("feed:\n  server:\n    host: ${bad-name}\n", "site.yaml: feed.server.host: bad variable reference at '${bad-name'"),
    ("feed:\n  server:\n    host: ${UNCLOSED\n", "site.yaml: feed.server.host: bad variable reference"),
    ("sources:\n  - {id: door, url: rtsp://h/a}\n  - {id: door, url: rtsp://h/b}\n", "site.yaml: sources[1].id: 'door' is used twice"),
    ("sources:\n  - {url: rtsp://h/a}\n", "site.yaml: sources[0].id: missing (every source needs an id and a url)"),
    ("sources:\n  - {id: door}\n", "site.yaml: sources[0].url: missing"),
    ("sources:\n  - {id: 9door, url: rtsp://h/a}\n", "site.yaml: sources[0].id: bad id '9door'"),
    ("sources:\n  - {id: door, url: 'ftp://u:${DOOR_PASSWORD}@h/a'}\n",
     "site.yaml: sources[0].url: 'ftp://u:***@h/a': unsupported scheme 'ftp'"),
    ("sources:\n  - {id: door, url: rtsp:///nohost}\n", "site.yaml: sources[0].url: 'rtsp:///nohost': URL has no host"),
    ("sources:\n  - {id: door, url: missing.mp4}\n", "site.yaml: sources[0].url: 'missing.mp4': no such file"),
    ("sources:\n  - {id: door, url: rtsp://h/a, bufer: 2}\n", "site.yaml: sources[0].bufer: unknown key"),
    ("sources:\n  - {id: door, url: rtsp://h/a, buffer_size: 0}\n", "site.yaml: sources[0].buffer_size: must be an integer within 1..128"),
    ("sources:\n  - {id: door, url: rtsp://h/a, sources: {}}\n", "site.yaml: sources[0].sources: overrides cannot nest"),
    ("sources: {door: rtsp://h/a}\n", "site.yaml: sources: expected a list of {id, url, ...}, got dict"),
    ("sources:\n  - {id: door, url: rtsp://h/a, buffer_size: 2}\ncapture:\n  sources:\n    door: {buffer_size: 3}\n",
     "site.yaml: sources[0]: the overrides of 'door' are also under capture.sources.door; keep one"),
    ("feed:\n  server:\n    port: ${DOOR_PASSWORD}\n", "site.yaml: feed.server.port: expected int, got str (from the environment: not shown)"),
    ("drift:\n  smoothing: ${DOOR_PASSWORD}\n", "site.yaml: drift.smoothing: the value from the environment is not one of"),
])
def test_bad_sources_and_variables_get_one_line_without_the_secret(tmp_path, env, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value) and SECRET not in str(info.value)


def test_command_line_sources_add_to_the_configured_ones_or_replace_one_by_id(tmp_path, env):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    cfg = load_config(write(tmp_path, (
        "sources:\n  - id: cam0\n    url: rtsp://viewer:${DOOR_PASSWORD}@10.0.0.5/s\n    rtsp_transport: udp\n"
        "  - {id: yard, url: rtsp://10.0.0.6/s}\n")))
    specs = _run_sources(cfg, ["rtsp://10.0.0.7/s", f"yard={video}"])
    assert [(s.id, s.kind) for s in specs] == [("cam0", SourceKind.STREAM), ("yard", SourceKind.FILE),
                                               ("cam1", SourceKind.STREAM)]  # cam0 was taken by the file
    assert cfg.capture.for_source("cam0").rtsp_transport is RtspTransport.UDP
    assert SECRET in REDACT.secrets  # every log line hides it from now on
    assert [s.id for s in _run_sources(cfg, [])] == ["cam0", "yard"]
    with pytest.raises(UsageError, match="no sources: give --source, or list sources: in the --config file"):
        _run_sources(load_config(), [])


def test_run_without_sources_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(write(tmp_path, "clip:\n  stride_s: 1\n"))],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["jepa-stream: error: no sources: give --source, or list sources: in the --config file"]


def test_redact_hides_userinfo_passwords_and_secret_query_parameters():
    assert redact("rtsp://admin:hunter2@h/s") == "rtsp://admin:***@h/s"
    assert redact("rtsp://h/cam/realmonitor?channel=1&user=admin&password=hunter2&x=1") == \
        "rtsp://h/cam/realmonitor?channel=1&user=admin&password=***&x=1"
    assert redact("http://h/live.m3u8?TOKEN=abc") == "http://h/live.m3u8?TOKEN=***"
    assert redact("rtsp://h/s?channel=1") == "rtsp://h/s?channel=1"
