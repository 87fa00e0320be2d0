"""The outputs into systems users already run (MQTT, webhooks), built from the config for a run.

Exports :func:`open_integrations`.

Each is a :class:`~streamer.feed.follower.LogFollower`: it delivers from the durable log and keeps
its cursor beside it (``<log path>.mqtt-cursor.json``, ``<log path>.webhooks-cursor.json``), so a
restart over the same log resumes where the broker or server stopped acknowledging.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.config import Config
from pipelines.errors import UsageError
from streamer.feed.controls import PausedSources
from streamer.feed.eventlog import EventLog
from streamer.feed.sinks import Sink

__all__ = ["open_integrations"]


def open_integrations(config: Config, log: EventLog, sources: list[str], paused: PausedSources,
                      read_snapshot: Callable[[str], bytes | None] | None) -> list[Sink]:
    """The MQTT and webhook sinks that ``config`` turns on (not started yet)."""
    beside = Path(log.config.path).expanduser()
    sinks: list[Sink] = []
    try:
        if config.mqtt.url:
            from streamer.mqtt.sink import MqttSink  # paho loads only when MQTT is on

            sinks.append(MqttSink(config.mqtt, log, f"{beside}.mqtt-cursor.json", sources, paused=paused, read_snapshot=read_snapshot))
        if config.webhooks.urls:
            from streamer.webhook.sink import WebhookSink

            sinks.append(WebhookSink(config.webhooks, log, f"{beside}.webhooks-cursor.json"))
    except ValueError as exc:  # an unreadable cursor file: its message names it
        raise UsageError(str(exc)) from None
    return sinks
