"""The mqtt: and webhooks: sections: bad values are one clear line naming the key (exit 2 from `run`),
secrets from the environment never shown."""

import subprocess
import sys

import pytest

from pipelines.config import ConfigError, load_config


@pytest.mark.parametrize("yaml, message", [
    ("mqtt:\n  url: http://broker:1883\n", "mqtt.url: must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"),
    ("mqtt:\n  url: mqtt://broker:99999\n", "mqtt.url: bad port"),
    ("mqtt:\n  prefix: home/#\n", "mqtt.prefix: topic levels"),
    ("mqtt:\n  password: ${MQTT_TEST_PASSWORD}\n", "mqtt.password: needs a username"),
    ("mqtt:\n  tls:\n    cert_file: c.pem\n", "mqtt.tls.cert_file: a client certificate needs both"),
    ("webhooks:\n  urls: [http://127.0.0.1:9/hook]\n", "webhooks.secret: needed to sign the POSTs"),
    ("webhooks:\n  urls: [ftp://host/x]\n  secret: s\n", "webhooks.urls: item 0 must be an http:// or https:// URL"),
    ("webhooks:\n  types: [caption, stats]\n", "webhooks.types: each one of"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, monkeypatch, yaml, message):
    monkeypatch.setenv("MQTT_TEST_PASSWORD", "hunter2-secret")
    path = tmp_path / "c.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)


def test_the_defaults_are_off_and_a_url_sets_host_port_and_tls():
    config = load_config(None, {"mqtt": {"url": "mqtts://broker.lan"}})
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.use_tls) == ("broker.lan", 8883, True)
    assert load_config().mqtt.url == "" and load_config().webhooks.urls == ()


def test_run_with_a_bad_mqtt_url_exits_2_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--source", str(tmp_path / "v.mp4"), "--mqtt", "tcp://b"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "mqtt.url: must be mqtt://HOST[:PORT]" in out.stderr
