"""The MQTT layout and discovery without a broker: topics, before/after, and which topics are ours."""

import json

from streamer.mqtt.discovery import config_topic_object, discovery_messages
from streamer.mqtt.layout import MqttLayout


def scene(state: str, scene_id: str, caption: str, end_time=None) -> dict:
    return {"type": "scene", "source": "door.1", "state": state, "id": scene_id, "start_time": 1.0, "end_time": end_time,
            "caption_seq": 3, "caption": caption, "labels": [], "snapshot": None, "description": None}


def test_scene_messages_carry_before_and_after_like_frigates_reviews():
    layout = MqttLayout("home/jepa")
    new = layout.messages(4, scene("new", "door.1-3", "cat"))
    assert [m.topic for m in new] == ["home/jepa/door.1/scene", "home/jepa/door.1/scene_changed"]
    first = json.loads(new[0].payload)
    assert first["type"] == "new" and first["before"] == first["after"] and first["after"]["seq"] == 4
    (update,) = layout.messages(6, scene("update", "door.1-3", "cat on a sofa"))
    body = json.loads(update.payload)
    assert (body["before"]["caption"], body["after"]["caption"]) == ("cat", "cat on a sofa")
    (end,) = layout.messages(9, scene("end", "door.1-3", "cat on a sofa", end_time=8.5))
    body = json.loads(end.payload)
    assert body["before"]["end_time"] is None and body["after"]["end_time"] == 8.5 and not end.retain


def test_only_this_prefixs_detect_and_config_topics_are_taken_as_ours():
    layout = MqttLayout("home/jepa")
    assert layout.detect_source("home/jepa/door.1/detect/set") == "door.1"
    for other in ("home/jepa/door.1/detect/state", "home/other/door.1/detect/set", "x/home/jepa/door.1/detect/set"):
        assert layout.detect_source(other) is None
    assert config_topic_object("homeassistant", "home/jepa", "homeassistant/switch/home_jepa/door_1_detect/config") == "door_1_detect"
    assert config_topic_object("homeassistant", "home/jepa", "homeassistant/switch/frigate/door_1_detect/config") is None
    topics = [m.topic for m in discovery_messages(layout, "homeassistant", "door.1", 5.0)]
    assert {config_topic_object("homeassistant", "home/jepa", t) for t in topics} == {
        "door_1_caption", "door_1_scene_changed", "door_1_snapshot", "door_1_detect", "door_1_connected"}
