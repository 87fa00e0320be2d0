"""Home Assistant MQTT discovery payloads for each source (sans-I/O).

Exports :data:`COMPONENTS`, :func:`object_id`, :func:`discovery_messages`, :func:`config_topic_object` and
:func:`config_subscription`.

Per source, under ``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` (``node_id``:
the prefix with anything but letters, digits, ``_`` and ``-`` made ``_``), all retained:

* ``sensor`` ``<source>_caption``: the current caption (``value_json.text``, cut to HA's 255
  characters), the caption's other fields as attributes;
* ``binary_sensor`` ``<source>_scene_changed``: ON at each new scene, off after ``off_delay``
  (``mqtt.scene_changed_s``);
* ``camera`` ``<source>_snapshot``: the newest scene's JPEG;
* ``switch`` ``<source>_detect``: pause (OFF) or resume (ON) the source's analysis;
* ``binary_sensor`` ``<source>_connected``: the source's connection (``connectivity``), from
  its ``status`` topic.

Each carries ``unique_id``, ``availability`` (``<prefix>/available``) and ``device`` (one
device per source). An empty retained payload on a config topic removes that entity: the sink
sends one for every entity of this node it finds whose source is no longer configured.
"""

from __future__ import annotations

import json
import re

from streamer.mqtt.layout import Message, MqttLayout

__all__ = ["COMPONENTS", "object_id", "discovery_messages", "config_topic_object", "config_subscription"]

#: (component, object suffix) of each source's entities.
COMPONENTS = (("sensor", "caption"), ("binary_sensor", "scene_changed"), ("camera", "snapshot"),
              ("switch", "detect"), ("binary_sensor", "connected"))
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def object_id(source: str, suffix: str) -> str:
    """HA's object id of one entity (letters, digits, ``_``, ``-``)."""
    return _SAFE.sub("_", f"{source}_{suffix}")


def _node(prefix: str) -> str:
    return _SAFE.sub("_", prefix)


def _entity(layout: MqttLayout, source: str, suffix: str, scene_changed_s: float) -> dict:
    t = lambda leaf: layout.topic(source, leaf)  # noqa: E731
    return {
        "caption": {"name": "Caption", "icon": "mdi:text-box-outline", "state_topic": t("caption"),
                    "value_template": "{{ value_json.text[:255] }}", "json_attributes_topic": t("caption")},
        "scene_changed": {"name": "Scene changed", "state_topic": t("scene_changed"), "payload_on": "ON",
                          "payload_off": "OFF", "off_delay": scene_changed_s},
        "snapshot": {"name": "Snapshot", "topic": t("snapshot")},
        "detect": {"name": "Detect", "icon": "mdi:eye", "command_topic": t("detect/set"), "state_topic": t("detect/state"),
                   "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"},
        "connected": {"name": "Connected", "device_class": "connectivity", "state_topic": t("status"),
                      "value_template": "{{ 'ON' if value_json.state == 'connected' else 'OFF' }}"},
    }[suffix]


def discovery_messages(layout: MqttLayout, discovery_prefix: str, source: str, scene_changed_s: float) -> list[Message]:
    """The retained config message of every entity of ``source``."""
    node = _node(layout.prefix)
    device = {"identifiers": [f"{node}_{source}"], "name": f"{layout.prefix} {source}", "manufacturer": "jepa-stream",
              "model": "jepa-stream video analyzer"}
    out = []
    for component, suffix in COMPONENTS:
        oid = object_id(source, suffix)
        payload = {**_entity(layout, source, suffix, scene_changed_s), "unique_id": f"{node}_{oid}", "object_id": f"{node}_{oid}",
                   "availability": [{"topic": layout.available, "payload_available": "online", "payload_not_available": "offline"}],
                   "qos": 1, "device": device}
        out.append(Message(f"{discovery_prefix}/{component}/{node}/{oid}/config", json.dumps(payload).encode(), retain=True))
    return out


def config_topic_object(discovery_prefix: str, prefix: str, topic: str) -> str | None:
    """The object id of a config topic of this node (``<discovery_prefix>/+/<node>/<object>/config``), else None."""
    parts = topic.split("/")
    base = discovery_prefix.split("/")
    if len(parts) != len(base) + 4 or parts[:len(base)] != base or parts[-3] != _node(prefix) or parts[-1] != "config":
        return None
    return parts[-2]


def config_subscription(discovery_prefix: str, prefix: str) -> str:
    """The subscription that receives every retained config of this node (to remove old sources)."""
    return f"{discovery_prefix}/+/{_node(prefix)}/+/config"
