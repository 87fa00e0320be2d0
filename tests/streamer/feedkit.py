"""Helpers for the event-feed tests: event factories, a running server, socket helpers.

Every network test uses real sockets on 127.0.0.1 only. Every wait is bounded
by the suite's one timeout constant (``tests/testlimits.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from websockets.asyncio.client import connect

from streamer.feed.bus import EventBus
from streamer.feed.server import FeedServer
from streamer.feed.server_config import ServerConfig
from testlimits import TIMEOUT_S

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "streamer" / "feed" / "schemas"


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
def running(bus: EventBus, routes=(), **settings):
    """A FeedServer on a free loopback port (with HTTP ``routes``), stopped on exit."""
    server = FeedServer(ServerConfig(**{"port": 0, **settings}), bus, routes)
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


async def open_subscribed(url: str, rcvbuf: int | None = None, **subscribe) -> tuple[object, dict, dict]:
    """Connect, read hello, subscribe (if asked) and read the ack: (ws, hello, subscribed).

    ``rcvbuf`` makes the client's socket receive buffer small, so a client that
    stops reading pushes back on the server quickly.
    """
    sock = None
    if rcvbuf is not None:
        import socket
        from urllib.parse import urlsplit

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", urlsplit(url).port))
        sock.setblocking(False)
    ws = await connect(url, compression=None, open_timeout=TIMEOUT_S, sock=sock)
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


def raw_connect(port: int, *, rcvbuf: int | None = None, headers: dict[str, str] | None = None):
    """Open a WebSocket by hand on a plain socket (a client with no library; it reads only when told)."""
    import base64
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT_S)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        assert chunk, f"connection closed during the handshake: {response!r}"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def masked_frame(opcode: int, payload: bytes, mask: bool = True) -> bytes:
    """One final WebSocket frame from a client (masked unless asked not to be)."""
    import struct

    head = bytes([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(sock) -> tuple[int, bytes]:
    """Read one unfragmented server frame from a raw socket: (opcode, payload)."""
    import struct

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("connection closed")
            data += chunk
        return data

    first, second = exactly(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", exactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(n)


def read_message(sock) -> dict:
    """Read the next text message from a raw socket as JSON, skipping pings and pongs (a close raises)."""
    while True:
        opcode, payload = read_frame(sock)
        if opcode == 1:
            return json.loads(payload)
        if opcode == 8:
            raise ConnectionError(f"closed by the server: {payload!r}")


def send_buffer_max() -> int:
    """The most bytes the kernel may buffer for one TCP sender (``tcp_wmem`` max; 4 MiB if unreadable)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 2**20


def read_until_close(sock) -> tuple[list[dict], int | None, str]:
    """Read text messages until a close frame: (messages, close code, close reason)."""
    import struct

    messages = []
    while True:
        opcode, payload = read_frame(sock)
        if opcode == 1:
            messages.append(json.loads(payload))
        elif opcode == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return messages, code, payload[2:].decode()


class Collect:
    """A bus sink that keeps ``keep(event)`` of every event it is given, on the publishing thread."""

    name = "collect"

    def __init__(self, keep=lambda out: out):
        self.keep = keep
        self.events: list = []

    def start(self) -> None:
        pass

    def emit(self, out) -> None:
        self.events.append(self.keep(out))

    def stop(self) -> None:
        pass
