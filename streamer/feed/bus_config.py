"""Settings of the event engine (NATS JetStream) that ``feed.bus`` / ``--bus`` turn on.

Exports: ``BusConfig``, ``subject_token``.

``feed.bus: nats://host:4222`` is short for ``feed.bus.url``. Without a ``url`` nothing changes: the event log is the SQLite file of ``feed.log``. With one,
the log is a JetStream stream named ``JEPA_<site>`` on subjects ``jepa.<site>.<source>.<type>``
(logged types only); its retention comes from the same ``feed.log`` keys
(``retention_max_age_s``, ``retention_max_events``, ``retention_max_bytes``), so a site moves from
one machine to the engine without restating them. Ephemeral events (stats, embeddings) go on
plain core-NATS subjects ``jepa-live.<site>.<source>.<type>``: never stored, never acknowledged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from configs.loader import build, check_range, invalid
from streamer.secrets import display_url

__all__ = ["BusConfig", "subject_token"]

_URL = re.compile(r"(nats|tls)://[^\s,/]+")
_SITE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def subject_token(name: str) -> str:
    """``name`` as one NATS subject token: ``.`` (allowed in source ids) becomes ``%2E``."""
    return name.replace(".", "%2E")


@dataclass(frozen=True)
class BusConfig:
    """Where the event engine is and how this process talks to it. Every bound has a documented default.

    url: ``nats://host:4222`` (``tls://`` for TLS), or several comma-separated for a cluster.
        It defaults to None: no engine, the SQLite log.
    site: Names the stream (``JEPA_<site>``) and its subjects; letters, digits, ``_`` and ``-``.
        It defaults to ``site``. Every worker and gateway of one site uses the same.
    stream_replicas: Copies of the stream the engine keeps (1..5); 3 on a three-node cluster
        survives the loss of any one node. It defaults to 1.
    tls_ca, tls_cert, tls_key: PEM files: the CA that signed the server, and this client's own
        certificate and key when the server asks for one. They default to None.
    credentials: A NATS ``.creds`` file (JWT and seed). It defaults to None.
    user, password: Plain user and password (``password: ${NATS_PASSWORD}`` keeps it out of the file).
        They default to None.
    outbox_max: Logged events a worker holds while the engine does not answer; beyond it the
        oldest are dropped and counted. It defaults to 10,000.
    ack_timeout_s: Seconds a publish waits for the engine's acknowledgement before it is tried
        again (with the same message id). It defaults to 2.0.
    duplicate_window_s: Seconds the stream remembers message ids to drop a re-sent publish.
        It defaults to 120.
    reconnect_wait_s: Seconds between reconnect attempts; a connection retries for ever.
        It defaults to 0.5.
    """

    url: str | None = None
    site: str = "site"
    stream_replicas: int = 1
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    credentials: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or tracebacks
    outbox_max: int = 10_000
    ack_timeout_s: float = 2.0
    duplicate_window_s: float = 120.0
    reconnect_wait_s: float = 0.5

    #: Most ``stream_replicas``: JetStream keeps at most five copies of a stream.
    MAX_REPLICAS = 5
    #: Most ``outbox_max``: a million events of about a kilobyte each held in memory.
    MAX_OUTBOX = 1_000_000
    #: Most seconds of ``ack_timeout_s``, ``duplicate_window_s`` and ``reconnect_wait_s``.
    MAX_WAIT_S = 3600.0

    def __post_init__(self) -> None:
        if self.url is not None:  # shown with any credentials in it as ***
            bad = [part for part in self.url.split(",") if not _URL.fullmatch(part.strip())]
            if bad or not self.url.strip():
                raise invalid("url", "must be nats://HOST:PORT or tls://HOST:PORT, comma-separated for a cluster",
                              display_url(self.url))
        if not isinstance(self.site, str) or not _SITE.fullmatch(self.site):
            raise invalid("site", "must be 1-64 letters, digits, '_' or '-'", self.site)
        check_range("stream_replicas", self.stream_replicas, 1, self.MAX_REPLICAS)
        check_range("outbox_max", self.outbox_max, 1, self.MAX_OUTBOX)
        for name in ("ack_timeout_s", "duplicate_window_s", "reconnect_wait_s"):
            check_range(name, getattr(self, name), 0.0, self.MAX_WAIT_S, above=True)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise invalid("tls_cert", "goes with tls_key: give both or neither", self.tls_cert)
        if self.password is not None and self.user is None:
            raise ValueError("password: needs user")  # the value is a secret: not shown

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | str, where: str = "feed.bus") -> "BusConfig":
        """``feed.bus`` as a mapping of the keys above, or as just its URL (``bus: nats://host:4222``);
        errors name ``where.key``."""
        return build(cls, {"url": data} if isinstance(data, str) else data, where)

    @property
    def servers(self) -> list[str]:
        """The server URLs of ``url``."""
        return [part.strip() for part in (self.url or "").split(",") if part.strip()]

    @property
    def stream(self) -> str:
        """The JetStream stream holding this site's logged events."""
        return f"JEPA_{self.site}"

    def subject(self, source: str, kind: str) -> str:
        """The subject of a logged event of ``kind`` from ``source``."""
        return f"jepa.{self.site}.{subject_token(source)}.{kind}"

    def live_subject(self, source: str, kind: str) -> str:
        """The core-NATS subject of an ephemeral event (stats, embedding)."""
        return f"jepa-live.{self.site}.{subject_token(source)}.{kind}"
