"""``jepa-stream subscribe``: print a feed's events, one JSON object per line.

Exports :func:`add_parser`. The client itself is :func:`streamer.feed.client.subscribe`; this module
only turns its events into lines and its failures into the CLI's one-line errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from streamer.feed.protocol import DEFAULT_URL, TOKEN_ENV, EventType

__all__ = ["add_parser"]


def _names(values: list[str] | None) -> list[str] | None:
    """``["caption,status", "stats"]`` -> ``["caption", "status", "stats"]``."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``subscribe`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "subscribe", help="print a feed's events, one JSON object per line",
        description="Connect to a jepa-stream feed and print one JSON event per line. Reconnects and resumes "
                    "from the last seq by itself, so no logged event (caption, status, baseline_caption, enrichment) "
                    "is missed or repeated.")
    p.add_argument("url", help=f"feed URL, e.g. {DEFAULT_URL}")
    p.add_argument("--types", nargs="+", metavar="TYPE", default=["caption", "status"],
                   help=f"event types: {' '.join(t.value for t in EventType)} (default: caption status)")
    p.add_argument("--sources", nargs="+", metavar="NAME", help="only these sources (default: all)")
    p.add_argument("--from-seq", type=int, metavar="N",
                   help="first replay every logged event after seq N, then go live (default: live only)")
    p.add_argument("--token", default=None, help=f"auth token; prefer ${TOKEN_ENV}, which other users cannot see in the process list")
    p.add_argument("--limit", type=int, metavar="N", help="exit after printing N events")
    p.add_argument("--no-reconnect", action="store_true", help="exit when the connection closes")
    p.set_defaults(handler=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    """Run ``jepa-stream subscribe``: print events until interrupted, ``--limit`` or (``--no-reconnect``) close.

    Returns 0 on a normal end, 1 when ``--no-reconnect`` was given and the
    connection cannot be opened, 2 when the server refuses the connection or
    an argument is wrong (one line on stderr in both cases).
    """
    from websockets.exceptions import InvalidHandshake, InvalidURI

    from streamer.feed.client import FeedRefused, subscribe

    token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        types = _names(args.types)
        for name in types:
            EventType(name)
    except ValueError:
        print(f"jepa-stream: error: --types: takes {', '.join(t.value for t in EventType)}; got {' '.join(args.types)}",
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
