"""The WebSocket event feed: protocol v1 over the ``websockets`` library.

:class:`FeedServer` runs an asyncio loop in its own thread, so synchronous code
(the CLI, the pipeline) hosts it with ``start()`` / ``stop()``. It registers a
sink on the :class:`~streamer.feed.bus.EventBus`; every published event crosses to
the loop with ``call_soon_threadsafe`` and goes into each matching client's
bounded queue. One sender task per client drains that queue, so a slow client
only ever fills its own queue:

* a full queue gives up the client's embeddings first, then its stats
  (counted; the client gets a ``lagging`` message);
* a full queue that must take a caption or status event and holds nothing
  else to give up closes the connection with
  :attr:`~streamer.feed.protocol.CloseCode.RESUME` (4000): reconnect with
  ``from_seq`` = the last seq received, nothing is lost.

Every rule a client sees is in ``docs/PROTOCOL.md``; the message rules
themselves are in :mod:`streamer.feed.protocol`, a connection's queue and sender in
:mod:`streamer.feed.session`, the handshake checks and HTTP routes in :mod:`streamer.feed.handshake`. :meth:`FeedServer.stats` gives
a :class:`~streamer.feed.metrics.FeedStats` snapshot (clients, lagging clients, events sent) for metrics.

Exports: ``FeedServer``, ``check_port_free`` (and ``ServerConfig``, from :mod:`streamer.feed.server_config`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from streamer.feed.bus import EventBus
from streamer.feed.handshake import Gate, select_subprotocol
from streamer.feed.http import HttpRoute
from streamer.feed.limits import HttpSlots, PeerLogLimiter
from streamer.feed.log_api import LogUnavailable
from streamer.feed.metrics import FeedStats
from streamer.feed.protocol import CloseCode, ErrorReason, Outgoing, ProtocolError, hello_message, parse_client_message
from streamer.feed.server_config import ServerConfig
from streamer.feed.session import Session

logger = logging.getLogger(__name__)

try:
    SERVER_NAME = f"jepa-stream {version('jepa-stream')}"
except PackageNotFoundError:  # running from a source tree that is not installed
    SERVER_NAME = "jepa-stream (source tree)"


class _Feed:
    """Loop-side state: the sessions, the fan-out and the counters; the handshake goes through its gate."""

    def __init__(self, config: ServerConfig, bus: EventBus, loop: asyncio.AbstractEventLoop, gate: Gate) -> None:
        self.config, self.bus, self.loop, self.gate = config, bus, loop, gate
        self.sessions: set[Session] = set()
        self.sent: Counter[str] = Counter()  # events sent live, per type
        self.replayed = 0
        self.connections = 0
        self.last_seq = 0
        self.replay_slots = asyncio.Semaphore(config.max_replays)
        self.notice: str | None = None  # sent to each new client after hello (see FeedServer.notify)
        self.http = HttpSlots(config.max_http_requests, config.max_http_per_client)

    def stats(self) -> FeedStats:
        """A snapshot of the counters (loop thread)."""
        return FeedStats(len(self.sessions), sum(s.lagging for s in self.sessions), dict(self.sent),
                         self.replayed, self.connections)

    def emit(self, event: Outgoing) -> None:
        """The bus sink: runs on the publishing thread, hands the event to the loop."""
        self.loop.call_soon_threadsafe(self.fanout, event)

    def fanout(self, event: Outgoing) -> None:
        """Offer ``event`` to every session whose subscription wants it (loop thread)."""
        if event.seq is not None:
            self.last_seq = event.seq
        for session in tuple(self.sessions):
            if not session.closing and session.sub.wants(event):
                session.offer(event)

    def notify(self, text: str, sticky: bool) -> None:
        """Send ``text`` to every client; a sticky one also to each that connects until the next notify (loop thread)."""
        self.notice = text if sticky else None
        for session in tuple(self.sessions):
            if not session.closing:
                session.control(text)

    def _first_seq(self) -> int | None:
        """The log's oldest seq; None when it holds none or cannot answer now."""
        try:
            return self.bus.log.first_seq
        except LogUnavailable:
            return None

    def check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """The handshake checks (:class:`~streamer.feed.handshake.Gate`) against the open sessions;
        a plain HTTP request first takes one of the :class:`~streamer.feed.limits.HttpSlots` until
        its connection closes, or gets 503 with ``Retry-After: 1`` at once."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            client = str(ws.remote_address[0]) if ws.remote_address else ""
            if not self.http.take(client):
                response = ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many HTTP requests at once; retry later\n")
                response.headers["Retry-After"] = "1"
                return response
            ws.connection_lost_waiter.add_done_callback(lambda _: self.http.release(client))
        return self.gate.check(ws, request, len(self.sessions))

    async def handle(self, ws: ServerConnection) -> None:
        """One connection: hello, default live subscription, then read client messages."""
        session = Session(ws, self.config, self)
        if len(self.sessions) >= self.config.max_connections:  # handshakes that raced past the gate's check
            await ws.close(CloseCode.TRY_AGAIN_LATER, "too many connections; retry later")
            return
        self.sessions.add(session)
        self.connections += 1
        session.control(hello_message(server=SERVER_NAME, sources=self.bus.sources, profile=self.bus.profile,
                                      last_seq=self.last_seq, first_seq=self._first_seq(),
                                      limits=self.config.client_limits()))
        if self.notice is not None:
            session.control(self.notice)
        session.sender = self.loop.create_task(session.run_sender())
        try:
            async for data in ws:
                if session.closing:
                    continue  # the finisher is closing the connection
                if not session.rate.allow(time.monotonic()):
                    session.reject(ProtocolError(ErrorReason.RATE_LIMITED, "too many messages; slow down"))
                    continue
                try:
                    sub = parse_client_message(data, self.config.max_message_bytes)
                except ProtocolError as error:
                    session.reject(error)
                    continue
                session.resubscribe(sub, self.last_seq)
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            session.closing = True
            session.sender.cancel()
            if session.finisher is not None:  # returning first would make websockets close with 1000
                await asyncio.wait([session.finisher])


class _LibraryLog(logging.LoggerAdapter):
    """The ``websockets`` library's log for the feed, with each peer's share bounded.

    Each record counts against its peer address (:class:`~streamer.feed.limits.PeerLogLimiter`);
    records that name no peer (the server's own, a connection's first) share one budget.
    Beyond the bound records are dropped, so a flood of bad handshakes cannot flood the log.
    """

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(logging.getLogger("websockets.server"), {})
        self.limiter = PeerLogLimiter(config.peer_log_lines_per_s, config.peer_log_burst)

    def log(self, level: int, msg: object, *args: object, **kwargs) -> None:
        if not self.isEnabledFor(level):
            return
        address = getattr(kwargs.get("extra", {}).get("websocket"), "remote_address", None)
        if not self.limiter.allow(str(address[0]) if address else "", time.monotonic()):
            return
        self.logger.log(level, msg, *args, **kwargs)


class FeedServer:
    """The feed server in its own thread, for synchronous hosts.

    ``start()`` returns once the port is listening (raising OSError naming the
    address if it cannot be bound); from then on every event published on
    ``bus`` reaches the subscribers. ``stop()`` closes every connection with
    1001 (clients resume from their last seq) and joins the thread within 2 s.
    The bus (and its log) stay open: they belong to the caller. ``routes`` are
    the plain HTTP answers served on the same port (:mod:`streamer.feed.http`).
    """

    #: Seconds ``stop()`` waits for connections to close before dropping them.
    STOP_GRACE_S = 1.0
    #: Seconds ``stop()`` waits for the thread to end.
    JOIN_TIMEOUT_S = 2.0

    def __init__(self, config: ServerConfig, bus: EventBus, routes: Sequence[HttpRoute] = ()) -> None:
        self.config, self.bus, self.routes = config, bus, tuple(routes)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._feed: _Feed | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one when the config asked for 0)."""
        if self._port is None:
            raise RuntimeError("the feed server is not started")
        return self._port

    @property
    def url(self) -> str:
        """``ws://host:port/`` of the running server."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"ws://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive (between ``start()`` and the end of ``stop()``)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def connections(self) -> int:
        """Open client connections (read from another thread: a snapshot)."""
        return 0 if self._feed is None else len(self._feed.sessions)

    def stats(self, timeout: float = 1.0) -> FeedStats:
        """A snapshot of the feed's counters (zeros before start and after stop). On the loop's
        thread (an HTTP route's handler) it is read at once; from another thread it is taken on
        the loop, waiting at most ``timeout`` seconds (TimeoutError beyond)."""
        feed, loop = self._feed, self._loop
        if feed is None or loop is None or not self.running:
            return FeedStats()
        if threading.current_thread() is self._thread:
            return feed.stats()

        async def snapshot() -> FeedStats:
            return feed.stats()

        return asyncio.run_coroutine_threadsafe(snapshot(), loop).result(timeout)

    def notify(self, text: str, sticky: bool = False) -> None:
        """Send the control message ``text`` to every client, whatever its subscription (from any thread);
        ``sticky``: also to each client that connects later, until the next notify. A gateway says
        so when its engine goes (sticky) and comes back."""
        feed, loop = self._feed, self._loop
        if feed is not None and loop is not None and self.running:
            loop.call_soon_threadsafe(feed.notify, text, sticky)

    def start(self) -> None:
        """Bind and start serving in a background thread; return once listening (a server starts once)."""
        if self._thread is not None:
            raise RuntimeError("the feed server was already started")
        self._thread = threading.Thread(target=self._run, name="feed-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            error, self._error = self._error, None
            raise _cannot_serve(self.config, error) from error
        logger.info("feed listening on %s", self.url)

    def stop(self) -> None:
        """Close all connections (1001), stop the loop and join the thread (idempotent)."""
        if not self.running or self._loop is None:
            return
        if self._feed is not None:
            self.bus.remove_sink(self._feed)  # no event reaches the loop from now on
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self.JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            logger.warning("feed server thread did not end within %.1f s", self.JOIN_TIMEOUT_S)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start() if it happens before ready
            if not self._ready.is_set():
                self._error = exc
            else:
                logger.exception("feed server failed")
        finally:
            if self._feed is not None:  # also when the loop failed: publishing must never hit a closed loop
                self.bus.remove_sink(self._feed)
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        feed = _Feed(self.config, self.bus, loop, Gate(self.config, self.routes))
        c = self.config
        server = await serve(
            feed.handle, c.host, c.port, process_request=feed.check_request, compression=None,
            max_size=c.max_frame_bytes, ping_interval=c.ping_interval_s, ping_timeout=c.ping_timeout_s,
            close_timeout=c.close_timeout_s, write_limit=c.write_limit_bytes, logger=_LibraryLog(c),
            select_subprotocol=select_subprotocol,
        )
        self._port = server.sockets[0].getsockname()[1]
        feed.last_seq = self.bus.add_sink(feed)
        self._feed = feed
        self._ready.set()
        await self._stopping.wait()
        server.close(code=CloseCode.GOING_AWAY, reason="server shutting down; resume from your last seq")
        try:
            await asyncio.wait_for(asyncio.shield(server.wait_closed()), self.STOP_GRACE_S)
        except asyncio.TimeoutError:  # clients that do not read cannot take the close frame: drop them
            for session in feed.sessions:
                session.ws.transport.abort()
            await asyncio.wait([asyncio.ensure_future(server.wait_closed())], timeout=self.STOP_GRACE_S / 2)
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


def check_port_free(config: ServerConfig) -> None:
    """Raise :meth:`FeedServer.start`'s OSError now if the port of ``config`` is taken, so that a
    run names it before the slow part of its start (port 0 is always free). The port is only
    tried (bound with ``SO_REUSEADDR``, as the server binds, then closed), not held."""
    if config.port == 0:
        return
    try:
        addresses = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # a bad host is start()'s to report
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise _cannot_serve(config, error) from None


def _cannot_serve(config: ServerConfig, error: BaseException) -> OSError:
    """The one-line error of a feed that cannot listen; a taken port says how to choose another."""
    detail = getattr(error, "strerror", None) or error
    if getattr(error, "errno", None) == errno.EADDRINUSE:
        detail = "address already in use (another run? pass --port N, or --port 0 for a free one)"
    return OSError(f"cannot serve the feed on {config.host}:{config.port}: {detail}")
