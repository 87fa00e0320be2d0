"""Helpers for the event-feed tests: event factories, a running server, socket helpers.

Every network test uses real sockets on 127.0.0.1 only. Waits scale from
``TIMEOUT_S`` (set ``JEPA_TEST_TIMEOUT_SCALE`` on a slow machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from websockets.asyncio.client import connect

from streamer.bus import EventBus
from streamer.server import FeedServer
from streamer.server_config import ServerConfig

#: The one timeout every wait in these tests derives from (seconds).
TIMEOUT_S = 10.0 * float(os.environ.get("JEPA_TEST_TIMEOUT_SCALE", "1"))
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "streamer" / "schemas"


def caption(i: int, source: str = "cam0", **extra) -> dict:
    """A caption event as the pipeline produces it (its seq is a placeholder the bus replaces)."""
    return {"v": 1, "type": "caption", "seq": 0, "source": source, "t": float(i), "t_start": i - 2.0,
            "t_end": float(i), "wall_time": time.time(), "text": f"caption {i}",
            "labels": [{"text": f"caption {i}", "score": 0.5}], "drift": 0.3, "reason": "change",
            "latency_ms": {"encode": 1.0, "predict": 0.1, "decode": 0.5, "total": 2.0}, **extra}


def status(state: str = "connected", source: str = "cam0") -> dict:
    return {"v": 1, "type": "status", "source": source, "wall_time": time.time(), "state": state,
            "detail": f"{source} {state}"}


def stats(source: str = "cam0") -> dict:
    return {"v": 1, "type": "stats", "source": source, "wall_time": time.time(), "t": 1.0, "fps": 5.0,
            "dropped_frames": 0, "clips": 3, "decodes": 1, "decode_rate_hz": 0.3, "uniform_1hz_decodes": 1,
            "latency_ms": {"total": {"p50": 3.0, "p95": 5.0}}}


def embedding(source: str = "cam0", dim: int = 384):
    import numpy as np
    vector = np.linspace(-1, 1, dim, dtype=np.float32)
    return {"v": 1, "type": "embedding", "source": source, "t": 1.0, "t_start": 0.0, "t_end": 1.0,
            "embedding": vector}


@contextmanager
def running(bus: EventBus, **settings):
    """A FeedServer on a free loopback port, stopped on exit."""
    server = FeedServer(ServerConfig(port=0, **settings), bus)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def publish(bus: EventBus, event: dict) -> dict:
    """Publish from a worker thread, as the pipeline does (never from the loop)."""
    return await asyncio.to_thread(bus.publish, event)


async def recv_json(ws, timeout: float = TIMEOUT_S) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def open_subscribed(url: str, **subscribe) -> tuple[object, dict, dict]:
    """Connect, read hello, subscribe (if asked) and read the ack: (ws, hello, subscribed)."""
    ws = await connect(url, compression=None, open_timeout=TIMEOUT_S)
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    ack = None
    if subscribe:
        await ws.send(json.dumps({"type": "subscribe", **subscribe}))
        while (ack := await recv_json(ws))["type"] != "subscribed":
            pass  # events of the default subscription may come first
    return ws, hello, ack


async def recv_until(ws, count: int, timeout: float = TIMEOUT_S) -> list[dict]:
    return [await recv_json(ws, timeout) for _ in range(count)]
