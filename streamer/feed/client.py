"""A small client for the jepa-stream event feed (``jepa-stream subscribe`` prints what it yields).

::

    from streamer.feed.client import subscribe

    async for event in subscribe("ws://127.0.0.1:8765/", types=["caption"]):
        print(event["seq"], event["text"])

:func:`subscribe` follows ``docs/PROTOCOL.md``: it waits for ``hello``, sends
``subscribe`` with ``from_seq`` set to the last seq it has seen, ignores what
arrives before the ``subscribed`` acknowledgement, and on any disconnection
reconnects with backoff and resumes, so the caller sees every caption and
status event once, in seq order. Embeddings and stats are ephemeral: those sent
while disconnected are lost.

Exports: ``FeedRefused``, ``subscribe``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import AsyncIterator, Iterable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from streamer.feed.protocol import DEFAULT_URL, PROTOCOL_VERSION, EmbeddingFormat, EventType, decode_embedding_frame

logger = logging.getLogger(__name__)

#: First reconnect delay in seconds; it doubles on each failed attempt.
RECONNECT_INITIAL_S = 0.25


class FeedRefused(Exception):
    """The server refused the connection for a reason retrying cannot fix (HTTP 401/403, wrong protocol)."""


async def subscribe(url: str = DEFAULT_URL, *, types: Iterable[str] = ("caption", "status"),
                    sources: Iterable[str] | None = None, from_seq: int | None = None,
                    token: str | None = None, embedding_format: str = "base64", reconnect: bool = True,
                    max_backoff_s: float = 10.0, open_timeout_s: float = 10.0) -> AsyncIterator[dict]:
    """Yield the feed's events as dicts, reconnecting and resuming by itself.

    types: Event types to receive (any of :class:`~streamer.feed.protocol.EventType`: caption,
        status, stats, embedding, baseline_caption, enrichment).
    sources: Source names to receive; None for all.
    from_seq: Start after this seq (replaying logged events from the server's
        log); None starts with the live stream.
    token: The server's auth token, sent as ``Authorization: Bearer``.
    embedding_format: ``"base64"`` yields embedding messages as sent (see
        :func:`streamer.feed.protocol.embedding_array`); ``"binary"`` yields the
        frame header with the float16 vector under ``"embedding"``.
    reconnect: Reconnect after a disconnection or a failed attempt (default).
        If False, iteration ends when the connection closes, and a failed
        connection attempt raises (OSError, TimeoutError, InvalidHandshake).
    max_backoff_s: Largest delay between reconnect attempts; delays start at
        0.25 s and double.
    open_timeout_s: Time allowed for each opening handshake.

    Raises :class:`FeedRefused` for a wrong or missing token (401), a
    forbidden origin (403) or a server speaking another protocol version.
    ``error`` and ``lagging`` messages are logged as warnings, not yielded.
    """
    wanted = [EventType(t).value for t in types]
    sources = None if sources is None else list(sources)
    fmt = EmbeddingFormat(embedding_format)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    state = _Resume(from_seq, RECONNECT_INITIAL_S)
    while True:
        try:
            async with connect(url, additional_headers=headers, compression=None,
                               open_timeout=open_timeout_s, max_size=None) as ws:
                async for event in _session(ws, url, {"types": wanted, "sources": sources, "embedding_format": fmt.value}, state):
                    yield event
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise FeedRefused(f"{url}: refused the connection: HTTP {status} "
                                  f"{exc.response.body.decode(errors='replace').strip()}") from None
            if not reconnect:
                raise
            logger.warning("feed %s: HTTP %d; retrying in %.2f s", url, status, state.delay)
        except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as exc:
            if not reconnect:
                if isinstance(exc, ConnectionClosed):
                    return
                raise
            where = "not connected yet" if state.seq is None else f"will resume after seq {state.seq}"
            logger.warning("feed %s: %s; reconnecting in %.2f s (%s)", url, exc or type(exc).__name__, state.delay, where)
        else:
            if not reconnect:
                return
        await asyncio.sleep(state.delay)
        state.delay = min(state.delay * 2, max_backoff_s)


@dataclass
class _Resume:
    """Where :func:`subscribe` resumes: the newest seq yielded (None: the live edge) and the next reconnect delay."""

    seq: int | None
    delay: float


async def _session(ws, url: str, subscription: dict, state: _Resume) -> AsyncIterator[dict]:
    """One connection: check the hello, subscribe from ``state.seq``, yield what follows the
    ``subscribed`` ack (``error`` and ``lagging`` logged), keeping ``state.seq`` up to date."""
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
        raise FeedRefused(f"{url}: does not speak jepa-stream protocol v{PROTOCOL_VERSION}: {hello!r:.200}")
    if state.seq is None:
        state.seq = hello["last_seq"]
    await ws.send(json.dumps({"v": PROTOCOL_VERSION, "type": "subscribe", "types": subscription["types"],
                              "sources": subscription["sources"], "from_seq": state.seq,
                              "embedding_format": subscription["embedding_format"]}))
    subscribed = False
    state.delay = RECONNECT_INITIAL_S
    async for data in ws:
        if isinstance(data, bytes):
            if subscribed:
                header, vector = decode_embedding_frame(data)
                yield {**header, "embedding": vector}
            continue
        message = json.loads(data)
        kind = message.get("type")
        if kind == "subscribed":
            subscribed = True
        elif kind in ("error", "lagging"):
            logger.warning("feed %s: %s", kind, data)
        elif subscribed:
            if "seq" in message:
                state.seq = message["seq"]
            yield message
