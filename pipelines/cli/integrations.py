"""The outputs into systems users already run (MQTT, webhooks), built from the config for a run.

Exports :func:`open_integrations` (a ``run``) and :func:`open_gateway_integrations` (a gateway,
``serve --bus``: webhooks only).

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

__all__ = ["open_integrations", "open_gateway_integrations"]

logger = logging.getLogger(__name__)


def open_integrations(config: Config, log: EventLog, sources: list[str],
                      read_snapshot: Callable[[str], bytes | None] | None) -> tuple[list[Sink], PausedSources]:
    """The MQTT and webhook sinks that ``config`` turns on for a ``run`` (not started yet), and the
    sources that MQTT's ``detect/set`` has paused (kept on disk only while MQTT is on: without it
    nothing could resume them). Their files are kept beside the SQLite log (``feed.log.path``).
    A ``--bus`` worker never gets here with them (:func:`pipelines.cli.engine.engine_bus` refuses)."""
    beside = Path(config.feed.log.path).expanduser()
    sinks: list[Sink] = []
    paused = PausedSources()
    try:
        if config.mqtt.url:
            paused = PausedSources(f"{beside}.detect.json")
            for source in (s for s in paused.paused() if s in sources):  # a camera since removed: nothing to say
                logger.warning("%s: analysis paused since a previous run (MQTT %s/%s/detect/set ON resumes it)",
                               source, config.mqtt.prefix, source)
            from streamer.mqtt.sink import MqttSink  # paho loads only when MQTT is on

            sinks.append(MqttSink(config.mqtt, log, f"{beside}.mqtt-cursor.json", sources, paused=paused, read_snapshot=read_snapshot))
        sinks += _webhooks(config, log)
    except ValueError as exc:  # an unreadable cursor or detect state file: its message names it
        raise UsageError(str(exc)) from None
    return sinks, paused


def open_gateway_integrations(config: Config, log: EventLog) -> list[Sink]:
    """The webhook sink of a gateway (``serve --bus``), over the site's stream: every worker's events
    with their stream seq, so a receiver de-duplicates across gateways by ``seq``. Its cursor is
    kept beside ``feed.log.path`` on the gateway's disk. MQTT is refused: its scene events and
    detect switch need parts a bus site does not have yet."""
    if config.mqtt.url:
        raise UsageError("mqtt: on a bus site (serve --bus) is not built yet: its scene events and detect switch "
                         "need the workers; webhooks: work here")
    try:
        return _webhooks(config, log)
    except ValueError as exc:  # an unreadable cursor file: its message names it
        raise UsageError(str(exc)) from None


def _webhooks(config: Config, log: EventLog) -> list[Sink]:
    if not config.webhooks.urls:
        return []
    from streamer.webhook.sink import WebhookSink

    return [WebhookSink(config.webhooks, log, f"{Path(config.feed.log.path).expanduser()}.webhooks-cursor.json")]
