"""A small client for the jepa-stream event feed, and the ``subscribe`` command.

::

    from streamer.client import subscribe

    async for event in subscribe("ws://127.0.0.1:8765/", types=["caption"]):
        print(event["seq"], event["text"])

:func:`subscribe` follows ``docs/PROTOCOL.md``: it waits for ``hello``, sends
``subscribe`` with ``from_seq`` set to the last seq it has seen, ignores what
arrives before the ``subscribed`` acknowledgement, and on any disconnection
reconnects with backoff and resumes, so the caller sees every caption and
status event once, in seq order. Embeddings and stats are ephemeral: those sent
while disconnected are lost.

Exports: ``DEFAULT_URL``, ``FeedRefused``, ``subscribe``, ``add_subscribe_parser``, ``run_subscribe``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import AsyncIterator, Iterable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .protocol import PROTOCOL_VERSION, TOKEN_ENV, EmbeddingFormat, EventType, decode_embedding_frame

logger = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8765/"
#: First reconnect delay in seconds; it doubles on each failed attempt.
RECONNECT_INITIAL_S = 0.25


class FeedRefused(Exception):
    """The server refused the connection for a reason retrying cannot fix (HTTP 401/403, wrong protocol)."""


async def subscribe(url: str = DEFAULT_URL, *, types: Iterable[str] = ("caption", "status"),
                    sources: Iterable[str] | None = None, from_seq: int | None = None,
                    token: str | None = None, embedding_format: str = "base64", reconnect: bool = True,
                    max_backoff_s: float = 10.0, open_timeout_s: float = 10.0) -> AsyncIterator[dict]:
    """Yield the feed's events as dicts, reconnecting and resuming by itself.

    types: Event types to receive (caption, status, stats, embedding).
    sources: Source names to receive; None for all.
    from_seq: Start after this seq (replaying logged events from the server's
        log); None starts with the live stream.
    token: The server's auth token, sent as ``Authorization: Bearer``.
    embedding_format: ``"base64"`` yields embedding messages as sent (see
        :func:`streamer.protocol.embedding_array`); ``"binary"`` yields the
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
    resume = from_seq
    delay = RECONNECT_INITIAL_S
    while True:
        try:
            async with connect(url, additional_headers=headers, compression=None,
                               open_timeout=open_timeout_s, max_size=None) as ws:
                hello = json.loads(await ws.recv())
                if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
                    raise FeedRefused(f"{url}: does not speak jepa-stream protocol v{PROTOCOL_VERSION}: {hello!r:.200}")
                if resume is None:
                    resume = hello["last_seq"]
                await ws.send(json.dumps({"v": PROTOCOL_VERSION, "type": "subscribe", "types": wanted,
                                          "sources": sources,
                                          "from_seq": resume, "embedding_format": fmt.value}))
                subscribed = False
                delay = RECONNECT_INITIAL_S
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
                            resume = message["seq"]
                        yield message
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise FeedRefused(f"{url}: refused the connection: HTTP {status} "
                                  f"{exc.response.body.decode(errors='replace').strip()}") from None
            if not reconnect:
                raise
            logger.warning("feed %s: HTTP %d; retrying in %.2f s", url, status, delay)
        except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as exc:
            if not reconnect:
                if isinstance(exc, ConnectionClosed):
                    return
                raise
            where = "not connected yet" if resume is None else f"will resume after seq {resume}"
            logger.warning("feed %s: %s; reconnecting in %.2f s (%s)", url, exc or type(exc).__name__, delay, where)
        else:
            if not reconnect:
                return
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_backoff_s)


def _names(values: list[str] | None) -> list[str] | None:
    """``["caption,status", "stats"]`` -> ``["caption", "status", "stats"]``."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


def add_subscribe_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``subscribe`` on a CLI's subparsers (handler: :func:`run_subscribe`)."""
    p = subparsers.add_parser(
        "subscribe", help="print a feed's events, one JSON object per line",
        description="Connect to a jepa-stream feed and print one JSON event per line. Reconnects and resumes "
                    "from the last seq by itself, so no caption or status event is missed or repeated.")
    p.add_argument("url", help=f"feed URL, e.g. {DEFAULT_URL}")
    p.add_argument("--types", nargs="+", metavar="TYPE", default=["caption", "status"],
                   help="event types: caption status stats embedding (default: caption status)")
    p.add_argument("--sources", nargs="+", metavar="NAME", help="only these sources (default: all)")
    p.add_argument("--from-seq", type=int, metavar="N",
                   help="first replay every logged event after seq N, then go live (default: live only)")
    p.add_argument("--token", default=None, help=f"auth token; prefer ${TOKEN_ENV}, which other users cannot see in the process list")
    p.add_argument("--limit", type=int, metavar="N", help="exit after printing N events")
    p.add_argument("--no-reconnect", action="store_true", help="exit when the connection closes")
    p.set_defaults(handler=run_subscribe)
    return p


def run_subscribe(args: argparse.Namespace) -> int:
    """Run ``jepa-stream subscribe``: print events until interrupted, ``--limit`` or (``--no-reconnect``) close.

    Returns 0 on a normal end, 1 when ``--no-reconnect`` was given and the
    connection cannot be opened, 2 when the server refuses the connection or
    an argument is wrong (one line on stderr in both cases).
    """
    token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        types = _names(args.types)
        for name in types:
            EventType(name)
    except ValueError:
        print(f"jepa-stream: error: --types: takes caption, status, stats, embedding; got {' '.join(args.types)}",
              file=sys.stderr)
        return 2
    if args.from_seq is not None and args.from_seq < 0:
        print(f"jepa-stream: error: --from-seq: must be >= 0, got {args.from_seq}", file=sys.stderr)
        return 2

    async def follow() -> None:
        printed = 0
        async for event in subscribe(args.url, types=types, sources=_names(args.sources), from_seq=args.from_seq,
                                     token=token, reconnect=not args.no_reconnect):
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            printed += 1
            if args.limit is not None and printed >= args.limit:
                return

    try:
        asyncio.run(follow())
    except (FeedRefused, InvalidURI) as exc:
        print(f"jepa-stream: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:  # only without reconnecting
        print(f"jepa-stream: error: {args.url}: cannot connect ({exc or type(exc).__name__})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
