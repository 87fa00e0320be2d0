"""Scene intervals: captions, enrichments and a source's end become logged ``scene`` events."""

import jsonschema

import feedkit
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import SqliteEventLog
from streamer.feed.events import EnrichmentEvent
from streamer.feed.protocol import load_schema
from streamer.feed.scenes import ScenePublisher


def caption(t: float, text: str, reason: str = "change", source: str = "cam0") -> dict:
    return feedkit.caption(t, source, text=text, labels=[{"text": text, "score": 0.9}], reason=reason,
                           snapshot=f"/snapshots/{source}/{int(t * 1000)}.jpg")


def done(caption_seq: int, t: float, text: str) -> dict:
    return EnrichmentEvent("cam0", caption_seq, t, "done", text, None, "tiny", "random", "ids").to_dict()


def logged(bus) -> list[dict]:
    return bus.log.read_after(0)


def test_decisions_open_and_close_scenes_in_order_and_every_event_follows_the_schema(bus):
    publish = ScenePublisher(bus.publish)
    publish(feedkit.status("connected"))
    first = publish(caption(1.0, "cat", "start"))
    publish(caption(4.0, "cat again", "heartbeat"))
    second = publish(caption(9.5, "coffee"))
    publish(done(first["seq"], 1.0, "a cat sits"))  # late: its scene already ended
    publish(feedkit.status("ended"))
    events = logged(bus)
    assert [(e["type"], e.get("state")) for e in events] == [
        ("status", "connected"), ("caption", None), ("scene", "new"), ("caption", None), ("scene", "update"),
        ("caption", None), ("scene", "end"), ("scene", "new"), ("enrichment", "done"), ("scene", "update"),
        ("scene", "end"), ("status", "ended")]
    scenes = [e for e in events if e["type"] == "scene"]
    schema = load_schema("scene")
    for scene in scenes:
        jsonschema.validate(scene, schema)
    one, two = f"cam0-{first['seq']}", f"cam0-{second['seq']}"
    assert [s["id"] for s in scenes] == [one, one, one, two, one, two]
    assert scenes[1]["caption"] == "cat again" and scenes[1]["snapshot"] == "/snapshots/cam0/4000.jpg"
    assert (scenes[2]["start_time"], scenes[2]["end_time"]) == (1.0, 9.5)
    assert scenes[4]["description"] == "a cat sits" and scenes[4]["end_time"] == 9.5
    assert (scenes[5]["start_time"], scenes[5]["end_time"]) == (9.5, 9.5)  # nothing seen after the decision


def test_the_end_of_a_run_ends_every_open_scene_at_the_last_media_time_seen(bus):
    publish = ScenePublisher(bus.publish)
    publish(caption(2.0, "cat", "start", source="a"))
    publish(caption(3.0, "rocket", "start", source="b"))
    publish(caption(7.0, "cat", "heartbeat", source="a"))
    publish.close()
    ends = {e["source"]: e for e in logged(bus) if e["type"] == "scene" and e["state"] == "end"}
    assert (ends["a"]["start_time"], ends["a"]["end_time"]) == (2.0, 7.0)
    assert (ends["b"]["start_time"], ends["b"]["end_time"]) == (3.0, 3.0)
    publish.close()  # nothing open any more: nothing more
    assert len([e for e in logged(bus) if e["type"] == "scene"]) == 5


def test_captions_numbered_later_by_a_workers_outbox_open_no_scene(log_config):
    bus = EventBus(SqliteEventLog(log_config), sources=["cam0"], outbox_max=16)  # as on the engine (run --bus)
    publish = ScenePublisher(bus.publish)
    try:
        sent = publish(caption(1.0, "cat", "start"))
        publish(caption(4.0, "cat again", "heartbeat"))
        publish(feedkit.status("ended"))
        publish.close()
        assert "seq" not in sent, "the outbox numbers it later"
    finally:
        bus.close()  # sends what the outbox holds
    log = SqliteEventLog(log_config)
    try:
        assert [e["type"] for e in log.read_after(0)] == ["caption", "caption", "status"]
    finally:
        log.close()


def test_a_resume_after_a_reconnect_ends_the_scene_before_the_gap_and_opens_a_new_one(bus):
    publish = ScenePublisher(bus.publish)
    first = publish(caption(1.0, "cat", "start"))
    publish(feedkit.status("reconnecting"))  # the camera went away: no end of the source
    resumed = publish(caption(12.0, "garden", "resume"))
    publish(caption(70.0, "garden still", "heartbeat"))
    scenes = [e for e in logged(bus) if e["type"] == "scene"]
    for scene in scenes:
        jsonschema.validate(scene, load_schema("scene"))
    one, two = f"cam0-{first['seq']}", f"cam0-{resumed['seq']}"
    assert [(s["id"], s["state"]) for s in scenes] == [(one, "new"), (one, "end"), (two, "new"), (two, "update")]
    assert (scenes[1]["start_time"], scenes[1]["end_time"]) == (1.0, 12.0)
    assert scenes[2]["caption"] == "garden" and scenes[3]["caption"] == "garden still"
