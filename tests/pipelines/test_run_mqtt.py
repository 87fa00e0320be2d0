"""`jepa-stream run --mqtt` end to end, against a real mosquitto on loopback: a subscriber gets every
scene and caption of the demo in order with the retained state right; the last will says offline
when the process is SIGKILLed; detect/set OFF pauses a source and ON resumes it, and a source
switched off stays off when the run starts again."""

from __future__ import annotations

import json
import time
from pathlib import Path


from mqttkit import Recorder, broker, wait_for  # noqa: F401 (broker: a fixture)
from runkit import run_cli

DEMO = Path(__file__).resolve().parents[2] / "demo" / "demo.mp4"
P = "jepa-stream/demo"


def config(tmp_path, extra: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"feed:\n  stats_interval_s: 1.0\n  log:\n    path: {tmp_path / 'log.sqlite'}\n{extra}")
    return path


def test_a_subscriber_gets_every_scene_and_caption_of_the_demo_in_order_with_the_retained_state_right(broker, tmp_path):
    recorder = Recorder(broker.port, ["jepa-stream/#"])
    events_out = tmp_path / "events.jsonl"
    try:
        with run_cli("--source", DEMO, "--no-realtime", "--port", 0, "--config", config(tmp_path), "--mqtt", broker.url,
                     "--events-out", events_out) as (proc, _):
            pass
        assert proc.returncode == 0
        wait_for(lambda: recorder.on("jepa-stream/available")[-1:] == [b"offline"], "offline at the run's end")
    finally:
        recorder.close()
    events = [json.loads(line) for line in events_out.read_text().splitlines()]
    captions = [e for e in events if e["type"] == "caption"]
    scenes = [e for e in events if e["type"] == "scene"]
    assert len(captions) >= 4 and scenes[-1]["state"] == "end"  # the demo has four cuts
    got = [json.loads(p) for p in recorder.on(f"{P}/caption")]
    assert [(c["seq"], c["text"]) for c in got] == [(c["seq"], c["text"]) for c in captions]
    feed = [json.loads(p) for p in recorder.on(f"{P}/scene")]
    assert [(m["seq"], m["type"], m["after"]["id"]) for m in feed] == [(s["seq"], s["state"], s["id"]) for s in scenes]
    assert all(m["before"]["id"] == m["after"]["id"] for m in feed)
    assert [m["after"]["end_time"] is None for m in feed] == [s["state"] != "end" and s["end_time"] is None for s in scenes]
    assert len(recorder.on(f"{P}/scene_changed")) == sum(s["state"] == "new" for s in scenes)

    late = Recorder(broker.port, ["jepa-stream/#"])  # a subscriber that comes later sees the retained state
    try:
        leaves = ("available", "demo/caption", "demo/status", "demo/detect/state", "demo/snapshot")
        wait_for(lambda: all(late.on(f"jepa-stream/{leaf}") for leaf in leaves), "every retained topic")
    finally:
        late.close()
    assert json.loads(late.on(f"{P}/caption")[0])["seq"] == captions[-1]["seq"]
    assert json.loads(late.on(f"{P}/status")[0])["state"] == "ended"
    assert late.on("jepa-stream/available") == [b"offline"] and late.on(f"{P}/detect/state") == [b"ON"]
    assert late.on(f"{P}/snapshot")[0][:2] == b"\xff\xd8"  # a JPEG
    assert all(retained for _, _, retained in late.messages)


def test_a_10_s_broker_outage_mid_run_loses_no_caption(broker, tmp_path):
    recorder = Recorder(broker.port, [f"{P}/caption"], client_id="outage-subscriber", persistent=True)
    events_out = tmp_path / "events.jsonl"
    try:
        with run_cli("--source", DEMO, "--port", 0, "--config", config(tmp_path), "--mqtt", broker.url,
                     "--events-out", events_out) as (proc, _):
            wait_for(lambda: recorder.on(f"{P}/caption"), "a first caption")
            broker.stop()
            away = time.time()
            time.sleep(10.0)  # the outage's length, not a wait for something to happen
            assert proc.poll() is None  # the demo plays for 40 s: the run went on meanwhile
            back = time.time()
            broker.start()
        assert proc.returncode == 0
        events = [e for e in map(json.loads, events_out.read_text().splitlines()) if e["type"] == "caption"]
        assert any(away < e["wall_time"] < back for e in events)  # the demo's cut at 8 s was captioned during the outage
        captions = [e["seq"] for e in events]
        got = wait_for(lambda: set(captions) <= set(s := [json.loads(p)["seq"] for p in recorder.on(f"{P}/caption")]) and s,
                       "every caption of the run")
    finally:
        recorder.close()
    assert got == sorted(got)  # in order, each at least once


def test_the_last_will_says_offline_when_the_process_is_killed(broker, tmp_path):
    recorder = Recorder(broker.port, ["jepa-stream/available"])
    try:
        with run_cli("--source", DEMO, "--port", 0, "--config", config(tmp_path), "--mqtt", broker.url) as (proc, _):
            wait_for(lambda: recorder.on("jepa-stream/available")[-1:] == [b"online"], "online")
            proc.kill()
        wait_for(lambda: recorder.on("jepa-stream/available")[-1:] == [b"offline"], "the last will")
    finally:
        recorder.close()


def test_detect_off_pauses_the_source_within_a_clip_and_on_resumes_it(broker, tmp_path):
    recorder = Recorder(broker.port, ["jepa-stream/#"])
    extra = "drift:\n  heartbeat_s: 3.0\n"  # a caption at least every 3 s while analysing
    try:
        with run_cli("--source", DEMO, "--port", 0, "--config", config(tmp_path, extra), "--mqtt", broker.url,
                     stop=True) as (proc, _):
            wait_for(lambda: recorder.on(f"{P}/caption"), "a first caption")
            recorder.client.publish(f"{P}/detect/set", "OFF", qos=1)
            off = wait_for(lambda: _index(recorder, f"{P}/detect/state", b"OFF"), "detect state OFF")
            stats = wait_for(lambda: len(s := _after(recorder, off, "jepa-stream/stats")) >= 4 and s, "four stats while paused")
            assert stats[1][1]["clips"] == stats[3][1]["clips"]  # two seconds without a clip
            captions = [i for i, _ in _after(recorder, off, f"{P}/caption")]
            assert len([i for i in captions if i > stats[0][0]]) == 0  # at most one clip in flight at OFF
            recorder.client.publish(f"{P}/detect/set", "ON", qos=1)
            on = wait_for(lambda: _index(recorder, f"{P}/detect/state", b"ON", after=off), "detect state ON")
            wait_for(lambda: _after(recorder, on, f"{P}/caption"), "a caption after ON")
            assert proc.poll() is None  # still analysing the demo
    finally:
        recorder.close()


def test_a_source_switched_off_stays_off_when_the_run_starts_again(broker, tmp_path):
    site = config(tmp_path)
    recorder = Recorder(broker.port, [f"{P}/#"])
    try:
        with run_cli("--source", DEMO, "--port", 0, "--config", site, "--mqtt", broker.url, stop=True) as (proc, _):
            wait_for(lambda: recorder.on(f"{P}/caption"), "a first caption")
            recorder.client.publish(f"{P}/detect/set", "OFF", qos=1)
            wait_for(lambda: _index(recorder, f"{P}/detect/state", b"OFF"), "detect state OFF")
        states_before = len(recorder.on(f"{P}/detect/state"))
        events_out = tmp_path / "again.jsonl"
        with run_cli("--source", DEMO, "--no-realtime", "--port", 0, "--config", site, "--mqtt", broker.url,
                     "--events-out", events_out) as (again, _):
            pass
        stderr = again.stderr.read()
    finally:
        recorder.close()
    assert again.returncode == 0, stderr
    assert "demo: analysis paused since a previous run (MQTT jepa-stream/demo/detect/set ON resumes it)" in stderr
    assert recorder.on(f"{P}/detect/state")[states_before:] == [b"OFF"]  # what the second run announced
    events = [json.loads(line) for line in events_out.read_text().splitlines()]
    assert [e["state"] for e in events if e["type"] == "status"][-1] == "ended"  # the whole demo was read ...
    assert not [e for e in events if e["type"] == "caption"]  # ... and none of it analysed


def _index(recorder: Recorder, topic: str, payload: bytes, after: int = -1) -> int | None:
    """Where the first ``payload`` on ``topic`` after message ``after`` is in the arrival order (None: not yet)."""
    return next((i for i, (t, p, _) in enumerate(list(recorder.messages)) if i > after and t == topic and p == payload), None)


def _after(recorder: Recorder, index: int, topic: str) -> list[tuple[int, dict]]:
    """The JSON messages on ``topic`` that arrived after message ``index``, with their place in the arrival order."""
    return [(i, json.loads(p)) for i, (t, p, _) in enumerate(list(recorder.messages)) if i > index and t == topic]
