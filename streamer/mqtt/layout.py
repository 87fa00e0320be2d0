"""Which MQTT messages each event becomes (sans-I/O): topics, payloads, retain flags.

Exports :class:`Message` and :class:`MqttLayout`.

Frigate's conventions where they fit (docs/MQTT.md has the table)::

    <prefix>/available                 online | offline (last will); retained
    <prefix>/<source>/scene            {"type": new|update|end, "seq", "before", "after"}  (like Frigate's reviews)
    <prefix>/<source>/scene_changed    ON at each new scene (HA's binary sensor turns itself off)
    <prefix>/<source>/snapshot         the newest scene's JPEG; retained (HA's MQTT camera)
    <prefix>/<source>/caption          {"seq", "text", "labels", "t", "reason", "snapshot", ...}; retained
    <prefix>/<source>/status           {"seq", "state", "detail"}; retained
    <prefix>/<source>/detect/set       ON | OFF from outside: pause or resume the source's analysis
    <prefix>/<source>/detect/state     ON | OFF; retained
    <prefix>/stats                     each source's stats event as JSON

Every message is QoS 1. The layout remembers the newest scene of each source, for ``before``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Message", "MqttLayout"]

_SCENE_FIELDS = ("id", "source", "start_time", "end_time", "caption_seq", "caption", "labels", "snapshot", "description")


@dataclass(frozen=True)
class Message:
    """One MQTT publication."""

    topic: str
    payload: bytes
    retain: bool = False


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class MqttLayout:
    """The topics under ``prefix`` and the messages of each event."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._scenes: dict[str, dict] = {}  # source -> the newest scene's state (for "before")

    @property
    def available(self) -> str:
        return f"{self.prefix}/available"

    @property
    def stats_topic(self) -> str:
        return f"{self.prefix}/stats"

    def topic(self, source: str, leaf: str) -> str:
        """``<prefix>/<source>/<leaf>``."""
        return f"{self.prefix}/{source}/{leaf}"

    @property
    def detect_commands(self) -> str:
        """The subscription that receives every source's ``detect/set``."""
        return f"{self.prefix}/+/detect/set"

    def detect_source(self, topic: str) -> str | None:
        """The source a ``detect/set`` topic names, or None for another topic."""
        head, _, rest = topic.partition(f"{self.prefix}/")
        source, _, leaf = rest.partition("/")
        return source if not head and source and leaf == "detect/set" else None

    def detect_state(self, source: str, on: bool) -> Message:
        return Message(self.topic(source, "detect/state"), b"ON" if on else b"OFF", retain=True)

    def messages(self, seq: int, event: Mapping[str, Any]) -> list[Message]:
        """The messages of one logged event (none for the types MQTT does not carry)."""
        kind, source = event["type"], event["source"]
        if kind == "caption":
            fields = ("text", "labels", "t", "t_start", "t_end", "reason", "drift", "wall_time", "snapshot")
            body = {"seq": seq, **{k: event.get(k) for k in fields}}
            return [Message(self.topic(source, "caption"), _json(body), retain=True)]
        if kind == "status":
            body = {"seq": seq, "state": event["state"], "detail": event["detail"], "wall_time": event["wall_time"]}
            return [Message(self.topic(source, "status"), _json(body), retain=True)]
        if kind == "scene":
            return self._scene(seq, event)
        return []

    def stats(self, event: Mapping[str, Any]) -> Message:
        return Message(self.stats_topic, _json(dict(event)))

    def _scene(self, seq: int, event: Mapping[str, Any]) -> list[Message]:
        after = {**{k: event[k] for k in _SCENE_FIELDS}, "seq": seq}
        before = self._scenes.get(event["source"])
        if event["state"] == "new" or before is None or before["id"] != event["id"]:
            before = after  # Frigate's "new" carries the same object twice
        self._scenes[event["source"]] = after
        out = [Message(self.topic(event["source"], "scene"), _json({"type": event["state"], "seq": seq, "before": before, "after": after}))]
        if event["state"] == "new":
            out.append(Message(self.topic(event["source"], "scene_changed"), b"ON"))
        return out
