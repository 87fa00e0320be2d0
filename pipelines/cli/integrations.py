"""The outputs into systems users already run (MQTT, webhooks), built from the config for a run.

Exports :func:`open_integrations`.

Each is a :class:`~streamer.feed.follower.LogFollower`: it delivers from the durable log and keeps
its cursor beside it (``<log path>.mqtt-cursor.json``, ``<log path>.webhooks-cursor.json``), so a
restart over the same log resumes where the broker or server stopped acknowledging. The sources
switched off with MQTT's ``detect/set`` are kept beside it too (``<log path>.detect.json``), so
they stay off across restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pipelines.config import Config
from pipelines.errors import UsageError
from streamer.feed.controls import PausedSources
from streamer.feed.log_api import EventLog
from streamer.feed.sinks import Sink

__all__ = ["open_integrations"]

logger = logging.getLogger(__name__)


def open_integrations(config: Config, log: EventLog, sources: list[str],
                      read_snapshot: Callable[[str], bytes | None] | None) -> tuple[list[Sink], PausedSources]:
    """The MQTT and webhook sinks that ``config`` turns on (not started yet), and the sources that
    MQTT's ``detect/set`` has paused (kept on disk only while MQTT is on: without it nothing could
    resume them). Their files are kept beside the SQLite log (``feed.log.path``). Not with
    ``feed.bus``: every worker would send the whole site's stream (a gateway-side sink is future
    work)."""
    if config.feed.bus.url and (config.mqtt.url or config.webhooks.urls):
        raise UsageError("mqtt: and webhooks: do not work with feed.bus (--bus) yet: each worker would send every "
                         "worker's events; run them on a machine without --bus")
    beside = Path(config.feed.log.path).expanduser()
    sinks: list[Sink] = []
    paused = PausedSources()
    try:
        if config.mqtt.url:
            paused = PausedSources(f"{beside}.detect.json")
            for source in paused.paused():
                logger.warning("%s: analysis paused since a previous run (MQTT %s/%s/detect/set ON resumes it)",
                               source, config.mqtt.prefix, source)
            from streamer.mqtt.sink import MqttSink  # paho loads only when MQTT is on

            sinks.append(MqttSink(config.mqtt, log, f"{beside}.mqtt-cursor.json", sources, paused=paused, read_snapshot=read_snapshot))
        if config.webhooks.urls:
            from streamer.webhook.sink import WebhookSink

            sinks.append(WebhookSink(config.webhooks, log, f"{beside}.webhooks-cursor.json"))
    except ValueError as exc:  # an unreadable cursor or detect state file: its message names it
        raise UsageError(str(exc)) from None
    return sinks, paused
