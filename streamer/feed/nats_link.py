"""One connection to the event engine (NATS), on its own asyncio loop thread, for threaded code.

Exports: ``NatsLink``, ``EngineUnavailable``.

nats-py is asyncio; the pipeline, the bus and the CLI are threads. A :class:`NatsLink` owns one
event loop in a daemon thread and one nats-py client on it. :meth:`NatsLink.start` returns at
once: the client connects in the background and, like every later reconnect, retries for ever
(``reconnect_wait_s`` apart), so a worker starts and keeps analysing while the engine is down.
Threads hand coroutines to the loop with :meth:`NatsLink.call` (wait for the result) or
:meth:`NatsLink.submit` (a future). Each change of state is one log line
(``event engine nats://…: connected again to …`` / ``disconnected; retrying every 0.5 s``; the
first connection is at INFO level) and goes to
the ``on_state`` callback (on the loop thread; it must only hand over); a repeated connect error
is logged once, not at every attempt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading
from typing import Any, Awaitable, Callable

import nats
from nats.aio.client import Client

from streamer.feed.bus_config import BusConfig
from streamer.feed.log_api import LogUnavailable

__all__ = ["NatsLink", "EngineUnavailable"]

logger = logging.getLogger(__name__)


class EngineUnavailable(LogUnavailable):
    """The engine did not answer in time (not connected, or no acknowledgement)."""


def _tls_context(config: BusConfig) -> ssl.SSLContext | None:
    if config.tls_ca is None and config.tls_cert is None:
        return None
    try:
        context = ssl.create_default_context(cafile=config.tls_ca)
        if config.tls_cert is not None:
            context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"feed.bus.tls_ca: cannot load the TLS files ({getattr(exc, 'strerror', None) or exc})"
                         ) from None
    return context


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return getattr(error, "strerror", None) or text


class NatsLink:
    """A nats-py client on a private event loop thread.

    config: The ``feed.bus`` settings (servers, TLS, credentials, reconnect wait).
    name: The client name the server shows (``jepa-stream worker``, ``jepa-stream gateway``).
    on_state: Called with ``(connected, detail)`` on the loop thread at every connect and disconnect.
    """

    #: Seconds between pings; two unanswered pings count the server as gone.
    PING_INTERVAL_S = 2

    def __init__(self, config: BusConfig, name: str,
                 on_state: Callable[[bool, str], None] | None = None) -> None:
        if not config.servers:
            raise ValueError("feed.bus.url: no engine URL given")
        self.config, self.name, self.on_state = config, name, on_state
        self.label = f"event engine {config.servers[0]}" + (f" (+{len(config.servers) - 1})"
                                                           if len(config.servers) > 1 else "")
        self._tls = _tls_context(config)
        self.loop = asyncio.new_event_loop()
        self.client = Client()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nats-link", daemon=True)
        self._connected = threading.Event()
        self._last_error: str | None = None
        self._connecting: concurrent.futures.Future | None = None
        self._closing = self._was_connected = False

    @property
    def connected(self) -> bool:
        """Whether the client is connected now (a snapshot)."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a connection; return whether there is one."""
        return self._connected.wait(timeout)

    def start(self) -> "NatsLink":
        """Start the loop thread and begin connecting (returns at once)."""
        self._thread.start()
        self._connecting = asyncio.run_coroutine_threadsafe(self._connect(), self.loop)
        return self

    async def _connect(self) -> None:
        c = self.config
        await self.client.connect(
            servers=c.servers, name=self.name, allow_reconnect=True, max_reconnect_attempts=-1,
            reconnect_time_wait=c.reconnect_wait_s, connect_timeout=2, ping_interval=self.PING_INTERVAL_S,
            max_outstanding_pings=2, tls=self._tls, user_credentials=c.credentials, user=c.user,
            password=c.password, error_cb=self._on_error, disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_connected)
        await self._on_connected()

    async def _on_error(self, error: Exception) -> None:
        detail = _describe(error)
        if detail != self._last_error:  # once per distinct error, not once per attempt
            self._last_error = detail
            logger.warning("%s: %s; retrying every %g s", self.label, detail, self.config.reconnect_wait_s)

    async def _on_connected(self) -> None:
        if self._connected.is_set():
            return
        self._connected.set()
        self._last_error = None
        again, self._was_connected = self._was_connected, True
        detail = (f"connected{' again' if again else ''} to "
                  f"{self.client.connected_url.netloc if self.client.connected_url else '?'}")
        logger.log(logging.WARNING if again else logging.INFO, "%s: %s", self.label, detail)
        if self.on_state is not None:
            self.on_state(True, detail)

    async def _on_disconnected(self) -> None:
        if not self._connected.is_set() or self._closing:
            return
        self._connected.clear()
        detail = f"disconnected; retrying every {self.config.reconnect_wait_s:g} s"
        logger.warning("%s: %s", self.label, detail)
        if self.on_state is not None:
            self.on_state(False, detail)

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future:
        """Run ``coro`` on the link's loop; return its future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Awaitable[Any], timeout: float) -> Any:
        """Run ``coro`` on the loop and wait up to ``timeout`` s; EngineUnavailable when it takes longer."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except (concurrent.futures.TimeoutError, asyncio.TimeoutError, nats.errors.TimeoutError) as exc:
            future.cancel()
            raise EngineUnavailable(f"{self.label}: no answer within {timeout:g} s") from exc

    def close(self) -> None:
        """Close the connection and end the loop thread (idempotent; waits at most 2 s)."""
        if not self._thread.is_alive():
            return
        self._closing = True
        if self._connecting is not None:
            self._connecting.cancel()

        async def shut() -> None:
            if not self.client.is_closed:
                await self.client.close()
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:  # the client's own helpers (consumer heartbeat checks, ...)
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            self.submit(shut()).result(2.0)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, nats.errors.Error, OSError):  # OSError: the engine went away
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(2.0)
