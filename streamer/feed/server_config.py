"""Settings of the WebSocket feed server, with their documented defaults.

Exports: ``ServerConfig``, ``is_loopback``, ``MIN_TOKEN_CHARS``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field

from configs.loader import check_range, invalid
from streamer.feed.protocol import TOKEN_ENV

#: Fewest characters of a token for a feed that listens beyond loopback.
MIN_TOKEN_CHARS = 16

#: Largest value of each integer setting (the least is 1).
_INT_MAXIMA = {
    "max_connections": 10_000, "max_message_bytes": 2**20, "max_frame_bytes": 2**24, "client_queue": 65_536,
    "client_message_burst": 1000, "max_strikes": 1000, "write_limit_bytes": 2**24, "replay_page": 10_000,
    "max_replays": 1000, "peer_log_burst": 10_000, "max_http_requests": 10_000, "max_http_per_client": 10_000,
}
#: Largest value of each rate (per second) or duration (seconds) setting (each must be > 0).
_FLOAT_MAXIMA = {
    "client_messages_per_s": 1000.0, "strike_window_s": 86_400.0, "lagging_notice_interval_s": 3600.0,
    "ping_interval_s": 3600.0, "ping_timeout_s": 3600.0, "close_timeout_s": 60.0, "peer_log_lines_per_s": 1000.0,
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    """Settings of the WebSocket feed. Every bound has a documented default.

    host: Interface to listen on. It defaults to ``127.0.0.1`` (this machine only).
    port: TCP port. It defaults to 8765; 0 picks a free port (see ``FeedServer.port``).
    token: Shared secret clients must present (``Authorization: Bearer <token>``
        or ``?token=<token>``), compared in constant time. It defaults to None
        (no auth), which is refused for any host but loopback; beyond loopback
        the token must have at least ``MIN_TOKEN_CHARS`` (16) characters.
    allowed_origins: ``Origin`` header values browsers may connect from, e.g.
        ``("http://localhost:3000",)``; ``"*"`` allows any. Clients that send no
        ``Origin`` (non-browser programs) are always let in. It defaults to
        ``()``: no browser page may connect.
    max_connections: Open connections at most; more get HTTP 503. It defaults to 256.
    max_message_bytes: Largest client message (UTF-8 bytes) the server reads;
        a larger one gets an ``error`` (``too_big``). It defaults to 4096.
    max_frame_bytes: Largest client message the connection survives; a larger
        one closes it with 1009. It defaults to 65536.
    client_queue: Events waiting for one client at most. It defaults to 256.
    client_messages_per_s: Average client messages per second allowed; more get
        ``rate_limited``. It defaults to 1.0, with bursts of ``client_message_burst``
        (default 10).
    max_strikes: Bad or rate-limited messages within ``strike_window_s`` (default 60)
        that close the connection with 1008. It defaults to 10.
    lagging_notice_interval_s: Least time between two ``lagging`` messages to
        one client while it keeps dropping. It defaults to 1.0.
    ping_interval_s: Keepalive ping interval. It defaults to 20.0.
    ping_timeout_s: A client that does not answer a ping within this is
        disconnected (1011). It defaults to 20.0.
    close_timeout_s: Time a closing handshake may take before the TCP
        connection is dropped. It defaults to 1.0.
    write_limit_bytes: High-water mark of a connection's socket write buffer.
        It defaults to 65536.
    replay_page: Logged events read per query while replaying for ``from_seq``;
        between two pages the replaying client yields to live delivery. It
        defaults to 100.
    max_replays: Replay pages read from the log at the same time, over all
        clients; more catching-up clients wait their turn page by page, which
        bounds the CPU replays take from live delivery (each catching-up client
        holds at most one page in memory). It defaults to 2.
    peer_log_lines_per_s: Average log records per second the ``websockets`` library
        may write about one peer address (handshake failures, debug traces); the rest
        are dropped. It defaults to 1.0, with bursts of ``peer_log_burst`` (default 20).
    max_http_requests: Plain HTTP requests (page, frames, snapshots, ``/metrics``) answered at
        the same time, over all clients; more get 503 with ``Retry-After: 1``, so that a burst of
        them cannot starve the feed's subscribers. It defaults to 32.
    max_http_per_client: The same bound for one client address. It defaults to 8 (a browser
        opens at most 6 connections to one host).

    Each integer setting is at least 1 and at most its entry in ``_INT_MAXIMA``
    (``max_connections`` 10,000, ``client_queue`` 65,536, ``max_message_bytes`` 1 MiB,
    ``max_frame_bytes`` and ``write_limit_bytes`` 16 MiB, ``replay_page`` 10,000, the
    others 1,000 or 10,000); each rate or duration is above 0 and at most its entry in
    ``_FLOAT_MAXIMA`` (an hour for timings, a day for ``strike_window_s``). NaN is refused.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = field(default=None, repr=False)  # never in logs or tracebacks
    allowed_origins: tuple[str, ...] = ()
    max_connections: int = 256
    max_message_bytes: int = 4096
    max_frame_bytes: int = 65536
    client_queue: int = 256
    client_messages_per_s: float = 1.0
    client_message_burst: int = 10
    max_strikes: int = 10
    strike_window_s: float = 60.0
    lagging_notice_interval_s: float = 1.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 1.0
    write_limit_bytes: int = 65536
    replay_page: int = 100
    max_replays: int = 2
    peer_log_lines_per_s: float = 1.0
    peer_log_burst: int = 20
    max_http_requests: int = 32
    max_http_per_client: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
        if not isinstance(self.host, str) or not self.host:
            raise invalid("host", "must be a non-empty string", self.host)
        check_range("port", self.port, 0, 65535)
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ValueError("token: must be a non-empty string or unset")  # the value is a secret: not shown
        if self.token is None and not is_loopback(self.host):
            raise ValueError(f"host: refusing to serve the feed on {self.host} without a token: anyone who reaches it "
                             f"could read it; set {TOKEN_ENV}, or bind to 127.0.0.1")
        if self.token is not None and not is_loopback(self.host) and len(self.token) < MIN_TOKEN_CHARS:
            raise ValueError(f"token: refusing to serve the feed on {self.host} with a token of {len(self.token)} "
                             f"characters: it needs at least {MIN_TOKEN_CHARS} beyond loopback")
        if not all(isinstance(o, str) and o for o in self.allowed_origins):
            raise invalid("allowed_origins", "must be non-empty strings", self.allowed_origins)
        for name, most in _INT_MAXIMA.items():
            check_range(name, getattr(self, name), 1, most)
        for name, most in _FLOAT_MAXIMA.items():
            check_range(name, getattr(self, name), 0.0, most, above=True)
        if self.max_frame_bytes < self.max_message_bytes:
            raise invalid("max_frame_bytes", f"must be at least max_message_bytes ({self.max_message_bytes})",
                          self.max_frame_bytes)

    def client_limits(self) -> dict[str, float]:
        """The limits announced to clients in ``hello``."""
        keys = ("max_message_bytes", "max_frame_bytes", "client_queue", "client_messages_per_s",
                "client_message_burst", "max_strikes", "strike_window_s", "ping_interval_s", "ping_timeout_s")
        values = asdict(self)
        return {k: values[k] for k in keys}
