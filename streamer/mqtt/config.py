"""The ``mqtt:`` section of the config file.

Exports :class:`MqttTlsConfig` and :class:`MqttConfig`.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from configs.loader import check_range, invalid

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
            raise invalid("cert_file", "a client certificate needs both cert_file and key_file", self.cert_file)


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
        if self.url:  # a bad one is shown by its scheme only: the rest may hold a secret
            parts = urlsplit(self.url)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.username or parts.path not in ("", "/"):
                raise invalid("url", "must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; only its scheme is shown", parts.scheme)
            try:
                parts.port
            except ValueError:
                raise invalid("url", "bad port, must be within 1..65535; only its scheme is shown", parts.scheme) from None
        for name in ("prefix", "discovery_prefix"):
            if not _TOPIC_PART.fullmatch(getattr(self, name)):
                raise invalid(name, "topic levels of letters, digits, _ - . joined by /", getattr(self, name))
        if self.password and not self.username:
            raise ValueError("password: needs a username")  # the value is a secret: not shown
        check_range("keepalive_s", self.keepalive_s, 5, 3600)
        check_range("scene_changed_s", self.scene_changed_s, 0.0, 3600.0, above=True)
        check_range("ack_timeout_s", self.ack_timeout_s, 0.1, 600.0)
        check_range("max_stats_queue", self.max_stats_queue, 1, 65536)

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
