"""The ``mqtt:`` section of the config file.

Exports :class:`MqttTlsConfig` and :class:`MqttConfig`.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["MqttTlsConfig", "MqttConfig"]

_TOPIC_PART = re.compile(r"[A-Za-z0-9_\-.]+(/[A-Za-z0-9_\-.]+)*")


@dataclass(frozen=True)
class MqttTlsConfig:
    """TLS to the broker: ``enabled`` (an ``mqtts://`` URL turns it on too), ``ca_file`` ("" = the
    system's CAs), ``cert_file``/``key_file`` (a client certificate; both or neither), ``insecure``
    (do not check the broker's host name: testing only)."""

    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure: bool = False

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file: a client certificate needs both cert_file and key_file")


@dataclass(frozen=True)
class MqttConfig:
    """The MQTT sink (off while ``url`` is empty; ``run --mqtt URL`` sets it).

    ``url``: ``mqtt://host:1883`` or ``mqtts://host:8883`` (no user or path in it: ``username`` and
    ``password`` hold the credentials; a bad URL's error shows only its scheme). ``prefix``: the first level of every
    topic (default ``jepa-stream``). ``client_id``: "" = ``<prefix>-<host name>``. ``username`` and
    ``password`` (write ``${ENV_VAR}``; never shown in a message). ``keepalive_s`` (default 30; the
    broker sends the last will ``offline`` after 1.5 times this without a word). ``discovery``:
    publish Home Assistant discovery under ``discovery_prefix`` (default ``homeassistant``).
    ``scene_changed_s``: how long HA's "scene changed" binary sensor stays on (default 5 s).
    ``ack_timeout_s``: longest wait for the broker's PUBACK before the event is tried again
    (default 10 s). ``max_stats_queue``: ``stats`` events waiting to go (default 64; oldest dropped).
    """

    url: str = ""
    prefix: str = "jepa-stream"
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    tls: MqttTlsConfig = field(default_factory=MqttTlsConfig)
    keepalive_s: int = 30
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    scene_changed_s: float = 5.0
    ack_timeout_s: float = 10.0
    max_stats_queue: int = 64

    def __post_init__(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.username or parts.path not in ("", "/"):
                raise ValueError(f"url: must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (got scheme {parts.scheme!r})")
            try:
                parts.port
            except ValueError:
                raise ValueError("url: bad port (a number within 1..65535)") from None
        for name in ("prefix", "discovery_prefix"):
            if not _TOPIC_PART.fullmatch(getattr(self, name)):
                raise ValueError(f"{name}: topic levels of letters, digits, _ - . joined by / (got {getattr(self, name)!r})")
        if self.password and not self.username:
            raise ValueError("password: needs a username")
        if not 5 <= self.keepalive_s <= 3600:
            raise ValueError(f"keepalive_s: must be within 5..3600 (got {self.keepalive_s})")
        if not 0 < self.scene_changed_s <= 3600:
            raise ValueError(f"scene_changed_s: must be within (0, 3600] (got {self.scene_changed_s})")
        if not 0.1 <= self.ack_timeout_s <= 600:
            raise ValueError(f"ack_timeout_s: must be within 0.1..600 (got {self.ack_timeout_s})")
        if not 1 <= self.max_stats_queue <= 65536:
            raise ValueError(f"max_stats_queue: must be within 1..65536 (got {self.max_stats_queue})")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def use_tls(self) -> bool:
        return self.tls.enabled or urlsplit(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.use_tls else 1883)

    @property
    def client(self) -> str:
        """The client id to connect with."""
        return self.client_id or f"{self.prefix.replace('/', '-')}-{socket.gethostname()}"
