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
themselves are in :mod:`streamer.feed.protocol`. :meth:`FeedServer.stats` gives
a :class:`~streamer.feed.metrics.FeedStats` snapshot (clients, lagging clients, events sent) for metrics.

Exports: ``FeedServer`` (and ``ServerConfig``, from :mod:`streamer.feed.server_config`).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from streamer.feed.bus import EventBus
from streamer.feed.http import HttpReply, HttpRoute, find_route
from streamer.feed.metrics import FeedStats
from streamer.feed.limits import ClientQueue, PeerLogLimiter, RateLimiter, StrikeCounter
from streamer.feed.protocol import (LOGGED_TYPES, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, CloseCode, EmbeddingFormat, ErrorReason, Outgoing, ProtocolError, Subscription,
                       error_message, hello_message, lagging_message, parse_client_message, subscribed_message)
from streamer.feed.server_config import ServerConfig, is_loopback

logger = logging.getLogger(__name__)

try:
    SERVER_NAME = f"jepa-stream {version('jepa-stream')}"
except PackageNotFoundError:  # running from a source tree that is not installed
    SERVER_NAME = "jepa-stream (source tree)"


@dataclass(frozen=True)
class _Start:
    """Queue marker: a subscription starts here (ack, then the replay for ``from_seq``)."""

    sub: Subscription
    last_seq: int


class _Session:
    """One client connection: its subscription, its bounded queue and its sender task."""

    def __init__(self, ws: ServerConnection, config: ServerConfig, feed: "_Feed") -> None:
        self.ws, self.config, self.feed = ws, config, feed
        self.sub = Subscription()
        self.queue = ClientQueue(config.client_queue)  # events, control messages (str) and _Start markers
        self.wake = asyncio.Event()
        self.notified = 0
        self.last_notice = 0.0
        self.last_sent_seq = 0
        self.skip_through = 0  # logged events up to this seq were replayed already
        self.rate = RateLimiter(config.client_messages_per_s, config.client_message_burst, time.monotonic())
        self.strikes = StrikeCounter(config.max_strikes, config.strike_window_s)
        self.closing = False
        self.lagging = False  # lost events to a full queue and has not emptied it since
        self.sender: asyncio.Task | None = None
        self.finisher: asyncio.Task | None = None  # closes the connection after close()

    def control(self, message: str) -> None:
        """Queue a control message (hello, subscribed, error, lagging) behind what is queued."""
        self.queue.put(message)
        self.wake.set()

    def resubscribe(self, sub: Subscription, last_seq: int) -> None:
        """Replace the subscription: pending events (and replays) of the old one are dropped.

        Every subscribe still gets its ``subscribed``; one superseded before it
        started is just followed by no events.
        """
        self.queue.discard_events(lambda item: subscribed_message(item.sub, item.last_seq)
                                  if isinstance(item, _Start) else item)
        self.sub = sub
        self.queue.put(_Start(sub, last_seq))
        self.wake.set()

    def offer(self, event: Outgoing) -> None:
        """Queue ``event`` under the backpressure rules of :class:`~streamer.feed.limits.ClientQueue`."""
        dropped = self.queue.dropped_total
        if self.queue.offer(event):
            self.wake.set()
            self.lagging = self.lagging or self.queue.dropped_total != dropped
        else:
            self.overflow()

    def overflow(self) -> None:
        """The queue cannot take a logged event: close so the client resumes from its last seq."""
        self.close(CloseCode.RESUME, f"client queue overflow; resume with from_seq {self.last_sent_seq}")

    def close(self, code: CloseCode, reason: str) -> None:
        """Stop sending and close the connection with ``code`` (idempotent)."""
        if self.closing:
            return
        self.closing = True
        logger.info("closing %s: %d %s", self.ws.remote_address, code, reason)
        pending = [item for item in self.queue.take_all() if isinstance(item, str)]  # errors still go out first
        if self.sender is not None:
            self.sender.cancel()
        self.finisher = self.feed.loop.create_task(self._finish(pending, code, reason))

    async def _finish(self, pending: list[str], code: CloseCode, reason: str) -> None:
        try:
            for message in pending:
                await self.ws.send(message)
        except ConnectionClosed:
            return
        await self.ws.close(code, reason)

    def reject(self, error: ProtocolError) -> None:
        """Answer a bad client message; close with 1008 once the client keeps at it."""
        self.control(error_message(error.reason, error.detail))
        if self.strikes.strike(time.monotonic()):
            self.close(CloseCode.POLICY_VIOLATION, f"{self.config.max_strikes} bad messages "
                                                   f"within {self.config.strike_window_s:g} s")

    async def run_sender(self) -> None:
        """Send queued messages in order until cancelled or the connection closes."""
        try:
            while True:
                while not self.queue:
                    self.lagging = False  # caught up
                    await self._notify_lagging(force=True)
                    if not self.queue:  # no await between this check and wait(): no lost wake-up
                        self.wake.clear()
                        await self.wake.wait()
                item = self.queue.pop()
                if isinstance(item, str):
                    await self.ws.send(item)
                elif isinstance(item, _Start):
                    await self.ws.send(subscribed_message(item.sub, item.last_seq))
                    self.skip_through = 0
                    if item.sub.from_seq is not None:
                        await self._replay(item)
                else:
                    if item.seq is not None and item.seq <= self.skip_through:
                        continue
                    await self._notify_lagging(force=False)
                    if item.seq is not None:  # send() writes the frame before its first await
                        self.last_sent_seq = item.seq
                    if item.binary is not None and self.sub.embedding_format is EmbeddingFormat.BINARY:
                        await self.ws.send(item.binary)
                    else:
                        await self.ws.send(item.utf8, text=True)
                    self.feed.sent[item.type.value] += 1
        except ConnectionClosed:
            pass

    async def _notify_lagging(self, force: bool) -> None:
        total = sum(self.queue.dropped.values())
        now = time.monotonic()
        if total > self.notified and (force or now - self.last_notice >= self.config.lagging_notice_interval_s):
            self.notified, self.last_notice = total, now
            await self.ws.send(lagging_message(self.queue.dropped, self.queue.events, self.queue.limit))

    async def _replay(self, replay: _Start) -> None:
        log, sub = self.feed.bus.log, replay.sub
        first_seq = await asyncio.to_thread(lambda: log.first_seq)
        if sub.from_seq > replay.last_seq:
            await self.ws.send(error_message(ErrorReason.FROM_SEQ_AHEAD,
                                             f"from_seq {sub.from_seq} is ahead of the last seq {replay.last_seq} "
                                             f"(was the event log reset?); sending live events only"))
            return
        if first_seq is not None and sub.from_seq + 1 < first_seq:
            await self.ws.send(error_message(ErrorReason.FROM_SEQ_EXPIRED,
                                             f"events {sub.from_seq + 1}..{first_seq - 1} were removed by retention; "
                                             f"replaying from {first_seq}"))
        types = [t.value for t in sub.types if t in LOGGED_TYPES]
        sources = None if sub.sources is None else sorted(sub.sources)
        after = sub.from_seq
        while types:
            async with self.feed.replay_slots:  # at most max_replays log reads at once
                page = await asyncio.to_thread(log.read_wire_after, after, types, sources, self.config.replay_page)
            for seq, text in page:  # one page in memory per catching-up client; sent as stored, no re-encoding
                after = self.last_sent_seq = seq
                await self.ws.send(text, text=True)
                self.feed.replayed += 1
            if len(page) < self.config.replay_page:
                break
            await asyncio.sleep(0)  # between pages, live fan-out and other clients get the loop
        self.skip_through = after


class _Feed:
    """Loop-side state: the sessions, the fan-out and the handshake checks."""

    def __init__(self, config: ServerConfig, bus: EventBus, loop: asyncio.AbstractEventLoop, routes: tuple[HttpRoute, ...] = ()) -> None:
        self.config, self.bus, self.loop, self.routes = config, bus, loop, routes
        self.sessions: set[_Session] = set()
        self.sent: Counter[str] = Counter()  # events sent live, per type
        self.replayed = 0
        self.connections = 0
        self.last_seq = 0
        self.replay_slots = asyncio.Semaphore(config.max_replays)

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

    def check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Refuse a handshake with a repeated Origin, Authorization or Host header (400), over the
        connection cap (503), from a foreign Origin (403: neither allowed nor the server's own
        page, :meth:`_same_origin`), or without the token (401). A
        request that asks for no upgrade is answered by its HTTP route (401 without the token
        unless the route is public; without a token configured, 403 for a private route asked
        for under a Host that is not loopback); without a route, ``websockets`` answers 426."""
        for name in ("Origin", "Authorization", "Host"):
            if len(request.headers.get_all(name)) > 1:
                return ws.respond(HTTPStatus.BAD_REQUEST, f"repeated {name} header\n")
        if len(self.sessions) >= self.config.max_connections:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                              f"too many connections (limit {self.config.max_connections}); retry later\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            path = urlsplit(request.path)
            route = find_route(self.routes, path.path)
            if route is not None:
                if not route.public and not self._authorized(request):
                    return ws.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
                if not route.public and self.config.token is None and not _loopback_host(request):
                    return ws.respond(HTTPStatus.FORBIDDEN, "without a token only a loopback Host may read data\n")
                return _response(self._answer(route, path.path, parse_qs(path.query)))
        origin = request.headers.get("Origin")
        allowed = self.config.allowed_origins
        if origin is not None and "*" not in allowed and origin not in allowed and not self._same_origin(request, origin):
            return ws.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")
        if not self._authorized(request):
            return ws.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    def _same_origin(self, request: Request, origin: str) -> bool:
        """Whether ``origin`` is this server's own page (``http://`` + the ``Host`` header).

        Without a token only a loopback ``Host`` counts: a page of another site whose name was
        made to resolve to 127.0.0.1 (DNS rebinding) names its own host, not a loopback one.
        """
        host = request.headers.get("Host", "")
        if not host or origin != f"http://{host}":
            return False
        return self.config.token is not None or _loopback_host(request)

    def _authorized(self, request: Request) -> bool:
        """Whether ``request`` presents the token (``Authorization: Bearer``, the
        ``Sec-WebSocket-Protocol`` entry of :func:`token_subprotocol` or ``?token=``), or none is needed."""
        if self.config.token is None:
            return True
        auth = request.headers.get("Authorization", "")
        offered = [p.strip() for p in ",".join(request.headers.get_all("Sec-WebSocket-Protocol")).split(",")]
        carried = [p for p in offered if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)]
        if auth.startswith("Bearer "):
            presented = auth[len("Bearer "):]
        elif carried:
            presented = _decode_token(carried[0][len(TOKEN_SUBPROTOCOL_PREFIX):])
        else:
            presented = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        return hmac.compare_digest(presented.encode(), self.config.token.encode())

    @staticmethod
    def _answer(route: HttpRoute, path: str, query: dict[str, list[str]]) -> HttpReply:
        try:
            return route.handler(path, query)
        except Exception:  # one broken handler must not take the feed down
            logger.exception("HTTP route %s failed on %s", route.path, path)
            return HttpReply.text(HTTPStatus.INTERNAL_SERVER_ERROR, f"{route.path}: internal error (see the server log)")

    async def handle(self, ws: ServerConnection) -> None:
        """One connection: hello, default live subscription, then read client messages."""
        session = _Session(ws, self.config, self)
        if len(self.sessions) >= self.config.max_connections:  # handshakes that raced past check_request
            await ws.close(CloseCode.TRY_AGAIN_LATER, "too many connections; retry later")
            return
        self.sessions.add(session)
        self.connections += 1
        session.control(hello_message(server=SERVER_NAME, sources=self.bus.sources, profile=self.bus.profile,
                                      last_seq=self.last_seq, first_seq=self.bus.log.first_seq,
                                      limits=self.config.client_limits()))
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


def _loopback_host(request: Request) -> bool:
    """Whether the request's ``Host`` names this machine (a server without a token answers data
    only then: a page whose own name was made to resolve to 127.0.0.1 sends that name)."""
    try:
        return is_loopback(urlsplit(f"//{request.headers.get('Host', '')}").hostname or "")
    except ValueError:  # a Host that is no host
        return False


def _decode_token(encoded: str) -> str:
    """The token of a :func:`token_subprotocol` entry ("" when it does not decode)."""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def _select_subprotocol(ws: ServerConnection, offered: Sequence[str]) -> str | None:
    """Answer :data:`SUBPROTOCOL` when the client offers it (a browser requires one of its
    offers back), else no subprotocol; the token entry is never echoed."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def _response(reply: HttpReply) -> Response:
    """``reply`` as a ``websockets`` response; the connection closes after it."""
    headers = Headers([("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))),
                       ("Connection", "close"), *reply.headers])
    return Response(reply.status.value, reply.status.phrase, headers, reply.body)


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
            detail = getattr(error, "strerror", None) or error
            raise OSError(f"cannot serve the feed on {self.config.host}:{self.config.port}: {detail}") from error
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
        feed = _Feed(self.config, self.bus, loop, self.routes)
        c = self.config
        server = await serve(
            feed.handle, c.host, c.port, process_request=feed.check_request, compression=None,
            max_size=c.max_frame_bytes, ping_interval=c.ping_interval_s, ping_timeout=c.ping_timeout_s,
            close_timeout=c.close_timeout_s, write_limit=c.write_limit_bytes, logger=_LibraryLog(c),
            select_subprotocol=_select_subprotocol,
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
