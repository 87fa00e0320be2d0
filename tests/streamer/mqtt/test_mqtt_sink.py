"""The MQTT sink against a real mosquitto on loopback: discovery, removal of old entities, and
nothing lost across a broker outage or a restart of the sink."""

from __future__ import annotations

import json
import subprocess
import time

import jsonschema
import pytest

from feedkit import caption
from mqttkit import Broker, Recorder, broker, wait_for  # noqa: F401 (broker: a fixture)
from pipelines.config import load_config
from streamer.feed.bus import EventBus
from streamer.feed.controls import PausedSources
from streamer.feed.eventlog import EventLog, EventLogConfig
from streamer.mqtt.config import MqttConfig
from streamer.mqtt.sink import MqttSink

#: Seconds the broker is away mid-run.
OUTAGE_S = 10

#: What Home Assistant's MQTT discovery requires of each component we use (its documented
#: schema: the platform's required topic), plus what we promise on every entity.
REQUIRED = {"sensor": ["state_topic"], "binary_sensor": ["state_topic"], "camera": ["topic"], "switch": ["command_topic"]}
COMMON = {
    "type": "object",
    "required": ["name", "unique_id", "availability", "device", "qos"],
    "properties": {
        "unique_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "availability": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["topic"]}},
        "device": {"type": "object", "required": ["identifiers", "name"],
                   "properties": {"identifiers": {"type": "array", "minItems": 1}}},
        "qos": {"const": 1},
    },
}


@pytest.fixture
def log_(tmp_path):
    log = EventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
    yield log
    log.close()


def sink_for(broker: Broker, log: EventLog, tmp_path, sources=("cam0",)) -> MqttSink:
    config = MqttConfig(url=broker.url, client_id="jepa-under-test", keepalive_s=5, ack_timeout_s=2.0)
    return MqttSink(config, log, tmp_path / "cursor.json", sources, paused=PausedSources())


def recorded_seqs(recorder: Recorder, topic: str) -> list[int]:
    return [json.loads(p)["seq"] for p in recorder.on(topic)]


def test_discovery_configs_are_valid_and_an_unconfigured_sources_entities_are_removed(broker, log_, tmp_path):
    old = "homeassistant/sensor/jepa-stream/gone_caption/config"
    stale = Recorder(broker.port, [])
    stale.client.publish(old, json.dumps({"unique_id": "jepa-stream_gone_caption"}), qos=1, retain=True).wait_for_publish(5)
    stale.close()
    recorder = Recorder(broker.port, ["homeassistant/#", "jepa-stream/#"])
    sink = sink_for(broker, log_, tmp_path)
    sink.start()
    try:
        wait_for(lambda: recorder.on(old) and recorder.on(old)[-1] == b"", "the old source's entity removed")
        configs = wait_for(lambda: len(ours := [(t, p) for t, p, _ in recorder.messages if t.endswith("/config") and t != old]) >= 5
                           and {t: json.loads(p) for t, p in ours}, "five discovery configs")
        recorder.client.publish("homeassistant/status", "online", qos=1)  # Home Assistant restarted
        wait_for(lambda: len([t for t, _, _ in recorder.messages if t in configs]) >= 10, "the configs again")
    finally:
        sink.stop()
        recorder.close()
    assert sorted(t.split("/")[1] for t in configs) == ["binary_sensor", "binary_sensor", "camera", "sensor", "switch"]
    for topic, payload in configs.items():
        component = topic.split("/")[1]
        jsonschema.validate(payload, {**COMMON, "required": COMMON["required"] + REQUIRED[component]})
        assert payload["availability"][0]["topic"] == "jepa-stream/available"
        assert payload["device"]["identifiers"] == ["jepa-stream_cam0"]
        assert all(v.startswith("jepa-stream/cam0/") for k, v in payload.items() if k.endswith("topic"))
    assert len({p["unique_id"] for p in configs.values()}) == 5
    assert configs["homeassistant/binary_sensor/jepa-stream/cam0_scene_changed/config"]["off_delay"] == 5.0
    assert recorder.on("jepa-stream/available")[-1] == b"offline"  # said by the sink when it stopped


def test_a_broker_outage_loses_no_caption_and_a_restarted_sink_sends_what_was_never_acknowledged(broker, log_, tmp_path):
    recorder = Recorder(broker.port, ["jepa-stream/cam0/caption"], client_id="outage-subscriber", persistent=True)
    bus = EventBus(log_, sources=["cam0"])
    sink = sink_for(broker, log_, tmp_path)
    sink.start()
    bus.add_sink(sink)
    try:
        sent = [bus.publish(caption(i))["seq"] for i in range(1, 6)]
        wait_for(lambda: recorded_seqs(recorder, "jepa-stream/cam0/caption") == sent, "the first captions")
        broker.stop()  # the broker is away for OUTAGE_S: the pipeline goes on publishing
        for i in range(6, 6 + 2 * OUTAGE_S):
            sent.append(bus.publish(caption(i))["seq"])
            time.sleep(0.5)  # the outage's length, not a wait for something to happen
        broker.start()
        sent += [bus.publish(caption(i))["seq"] for i in range(6 + 2 * OUTAGE_S, 11 + 2 * OUTAGE_S)]
        got = wait_for(lambda: set(sent) <= set(s := recorded_seqs(recorder, "jepa-stream/cam0/caption")) and s,
                       "every caption after the outage")
        assert got == sorted(got)  # in order, each at least once
        broker.stop()  # away again, and this sink stops before it comes back
        sent += [bus.publish(caption(i))["seq"] for i in range(11 + 2 * OUTAGE_S, 16 + 2 * OUTAGE_S)]
    finally:
        bus.remove_sink(sink)
        sink.stop()
    assert json.loads((tmp_path / "cursor.json").read_text())["seq"] == sent[-6]  # the last acknowledged
    broker.start()
    again = sink_for(broker, log_, tmp_path)  # a restart of jepa-stream over the same log and cursor
    again.start()
    try:
        got = wait_for(lambda: set(sent) <= set(s := recorded_seqs(recorder, "jepa-stream/cam0/caption")) and s,
                       "the captions never acknowledged, from the restarted sink")
    finally:
        again.stop()
        recorder.close()
    assert got == sorted(got) and set(got) == set(sent)


def test_tls_with_a_username_and_a_password_from_the_environment(tmp_path, log_, monkeypatch):
    folder = tmp_path / "tls-broker"
    folder.mkdir()
    cert, key, passwords = folder / "cert.pem", folder / "key.pem", folder / "passwords"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                           "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr.decode()[-200:]}")
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, "jepa", "a-broker-password"], check=True, capture_output=True)
    broker = Broker(folder, extra=f"cafile {cert}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwords}\n").start()
    monkeypatch.setenv("MQTT_TEST_PASSWORD", "a-broker-password")
    site = tmp_path / "site.yaml"
    site.write_text(f"mqtt:\n  url: mqtts://127.0.0.1:{broker.port}\n  username: jepa\n  password: ${{MQTT_TEST_PASSWORD}}\n"
                    f"  tls:\n    ca_file: {cert}\n")
    bus = EventBus(log_, sources=["cam0"])
    sink = MqttSink(load_config(site).mqtt, log_, tmp_path / "cursor.json", ["cam0"], paused=PausedSources())
    sink.start()
    bus.add_sink(sink)
    try:
        seq = bus.publish(caption(1))["seq"]
        wait_for(lambda: sink.cursor.seq == seq, "the broker's PUBACK over TLS, with the password")
    finally:
        bus.remove_sink(sink)
        sink.stop()
        broker.stop()
