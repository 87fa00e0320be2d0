"""The MQTT sink: the event log delivered to a broker, QoS 1, with Home Assistant discovery.

Exports :class:`MqttSink`.

Built on paho-mqtt's threaded client (its network loop is one thread, ``loop_start``; it
reconnects by itself, 1 s doubling to 30 s), because every sink is already a thread with its own
queue (:mod:`streamer.feed.sinks`): a blocking "publish, wait for PUBACK" on the sink's thread
is all the delivery needs, and no asyncio loop has to be hosted beside the pipeline.

Delivery (:class:`~streamer.feed.follower.LogFollower`): each logged ``caption``, ``status`` and
``scene`` event becomes its messages (:class:`~streamer.mqtt.layout.MqttLayout`); the cursor moves
once the broker acknowledged all of them. A broker that is away, or a PUBACK later than
``ack_timeout_s``, leaves the cursor where it was: the event goes again after the reconnect.
At connect (and when Home Assistant says ``online`` on ``<discovery_prefix>/status``) the sink
publishes ``<prefix>/available`` ``online`` (the last will is ``offline``, both retained), the
discovery configs (:mod:`streamer.mqtt.discovery`) and each source's ``detect/state``, and
removes the entities of sources no longer configured. ``detect/set`` ON/OFF resumes or pauses a
source (:class:`~streamer.feed.controls.PausedSources`).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import paho.mqtt.client as paho

from streamer.feed.controls import PausedSources
from streamer.feed.eventlog import EventLog
from streamer.feed.follower import LogFollower
from streamer.feed.protocol import EventType, Outgoing
from streamer.mqtt.config import MqttConfig
from streamer.mqtt.discovery import COMPONENTS, config_subscription, config_topic_object, discovery_messages, object_id
from streamer.mqtt.layout import Message, MqttLayout

__all__ = ["MqttSink"]

log = logging.getLogger(__name__)

#: Messages paho may hold unsent (a bound on its own queue; the log holds the rest).
_MAX_QUEUED = 1024
#: Longest wait for a snapshot JPEG that the snapshot writer has not finished yet.
_SNAPSHOT_WAIT_S = 1.0


class MqttSink(LogFollower):
    """Delivers ``sources``' events to the broker of ``config`` from the cursor at ``cursor_path``.

    ``read_snapshot(url_path)`` returns a snapshot's JPEG (None: no camera images);
    ``paused`` is what ``detect/set`` changes.
    """

    name = "mqtt"

    def __init__(self, config: MqttConfig, log_: EventLog, cursor_path: str | Path, sources: Iterable[str], *,
                 paused: PausedSources, read_snapshot: Callable[[str], bytes | None] | None = None) -> None:
        types = frozenset({EventType.CAPTION.value, EventType.STATUS.value, EventType.SCENE.value})
        super().__init__(log_, cursor_path, types, max_ephemeral=config.max_stats_queue)
        self.config = config
        self.sources = tuple(sources)
        self.layout = MqttLayout(config.prefix)
        self.paused = paused
        self.read_snapshot = read_snapshot
        self._pending: tuple[int, list[Message]] | None = None  # an event's messages, kept for its retries
        self._objects = {object_id(s, suffix) for s in self.sources for _, suffix in COMPONENTS}
        self._client = self._make_client()
        self._was_connected = False
        self._unreachable_said = False

    def _make_client(self) -> paho.Client:
        c = self.config
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=c.client, clean_session=True)
        if c.username:
            client.username_pw_set(c.username, c.password or None)
        if c.use_tls:
            client.tls_set(ca_certs=c.tls.ca_file or None, certfile=c.tls.cert_file or None,
                           keyfile=c.tls.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(c.tls.insecure)
        client.will_set(self.layout.available, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(_MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        if self._thread is None:
            self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
            self._client.loop_start()
        super().start()

    def close(self) -> None:
        self._was_connected = False  # the disconnect below is ours: no warning
        if self._client.is_connected():
            info = self._client.publish(self.layout.available, "offline", qos=1, retain=True)
            self._wait(info, 2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def deliver(self, seq: int, text: str) -> bool:
        if not self._client.is_connected():
            return False
        if self._pending is None or self._pending[0] != seq:
            event = json.loads(text)
            self._pending = (seq, self.layout.messages(seq, event) + self._snapshot(event))
        infos = [self._client.publish(m.topic, m.payload, qos=1, retain=m.retain) for m in self._pending[1]]
        return all(self._wait(info, self.config.ack_timeout_s) for info in infos)

    def deliver_ephemeral(self, event: Outgoing) -> None:
        if event.type is EventType.STATS and self._client.is_connected():
            message = self.layout.stats(event.message)
            self._client.publish(message.topic, message.payload, qos=1)

    def _wait(self, info: paho.MQTTMessageInfo, timeout_s: float) -> bool:
        """Whether the broker acknowledged ``info`` within ``timeout_s`` (False at once when the connection drops)."""
        deadline = time.monotonic() + timeout_s
        try:
            while not info.is_published():
                if not self._client.is_connected() or time.monotonic() >= deadline:
                    return False
                info.wait_for_publish(0.05)
        except (RuntimeError, ValueError):  # not queued: no connection, or paho's queue is full
            return False
        return True

    def _snapshot(self, event: dict) -> list[Message]:
        """The camera's JPEG for a scene event that brings a snapshot (waiting briefly for a fresh one)."""
        ref = event.get("snapshot") if event["type"] == EventType.SCENE.value and event["state"] != "end" else None
        if not ref or self.read_snapshot is None:
            return []
        fresh = time.time() - event["wall_time"] < 5 * _SNAPSHOT_WAIT_S
        deadline = time.monotonic() + (_SNAPSHOT_WAIT_S if fresh else 0.0)
        while (jpeg := self.read_snapshot(ref)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return [Message(self.layout.topic(event["source"], "snapshot"), jpeg, retain=True)] if jpeg else []

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:  # said once until a connection succeeds: paho keeps retrying
            if not self._unreachable_said:
                log.warning("mqtt: %s:%d refused the connection: %s (retrying; events wait in the log)",
                            self.config.host, self.config.port, reason)
            self._unreachable_said = True
            return
        log.info("mqtt: connected to %s:%d", self.config.host, self.config.port)
        client.publish(self.layout.available, "online", qos=1, retain=True)
        client.subscribe([(self.layout.detect_commands, 1), (f"{self.config.discovery_prefix}/status", 1)])
        if self.config.discovery:
            client.subscribe(config_subscription(self.config.discovery_prefix, self.config.prefix), 1)
        self._announce()
        self._was_connected = True
        self._unreachable_said = False
        self.wake()

    def _announce(self) -> None:
        """Discovery configs (when on) and every source's detect state."""
        messages = [self.layout.detect_state(s, s not in self.paused) for s in self.sources]
        if self.config.discovery:
            messages += [m for s in self.sources
                         for m in discovery_messages(self.layout, self.config.discovery_prefix, s, self.config.scene_changed_s)]
        for m in messages:
            self._client.publish(m.topic, m.payload, qos=1, retain=m.retain)

    def _on_connect_fail(self, client, userdata) -> None:
        if not self._unreachable_said:  # once until a connection succeeds: paho keeps retrying
            self._unreachable_said = True
            log.warning("mqtt: cannot reach the broker %s:%d (retrying; events wait in the log)", self.config.host, self.config.port)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if self._was_connected and self._thread is not None:
            log.warning("mqtt: lost the broker %s:%d (%s); events wait in the log until it is back",
                        self.config.host, self.config.port, reason)
        self._was_connected = False

    def _on_message(self, client, userdata, message) -> None:
        topic, payload = message.topic, message.payload.decode("utf-8", "replace").strip()
        source = self.layout.detect_source(topic)
        if source is not None:
            self._detect(source, payload)
        elif topic == f"{self.config.discovery_prefix}/status" and payload == "online":
            self._announce()  # Home Assistant restarted: it forgot what it was told
        else:
            oid = config_topic_object(self.config.discovery_prefix, self.config.prefix, topic)
            if oid is not None and payload and oid not in self._objects:
                log.info("mqtt: removing Home Assistant entity %s (its source is no longer configured)", oid)
                client.publish(topic, b"", qos=1, retain=True)

    def _detect(self, source: str, payload: str) -> None:
        if source not in self.sources:
            log.warning("mqtt: detect/set for unknown source %r ignored (sources: %s)", source, ", ".join(self.sources))
            return
        if payload.upper() not in ("ON", "OFF"):
            log.warning("mqtt: %s/detect/set: payload must be ON or OFF, got %r", source, payload[:40])
            return
        self.paused.set(source, payload.upper() == "ON")
        m = self.layout.detect_state(source, payload.upper() == "ON")
        self._client.publish(m.topic, m.payload, qos=1, retain=m.retain)
