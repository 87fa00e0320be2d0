"""How a browser page reaches the feed: its own origin, and the token as a WebSocket subprotocol."""

from __future__ import annotations

import asyncio
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from feedkit import running
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog, EventLogConfig
from streamer.feed.protocol import SUBPROTOCOL, token_subprotocol
from streamer.redact import redact
from testlimits import TIMEOUT_S

TOKEN = "a-token-of-16-chars+/é"  # not base64url-safe on purpose: it is encoded for the header


@pytest.fixture
def bus(tmp_path):
    log = EventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
    yield EventBus(log, sources=["cam0"], profile="lite")
    log.close()


def handshake(port: int, host: str, headers: list[tuple[str, str]]) -> bytes:
    """One WebSocket handshake by hand, with the given ``Host``; the response head."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response and (chunk := sock.recv(65536)):
            response += chunk
    return response


def test_the_servers_own_page_may_connect_other_origins_may_not(bus):
    with running(bus) as server:
        host = f"127.0.0.1:{server.port}"
        assert handshake(server.port, host, [("Origin", f"http://{host}")]).startswith(b"HTTP/1.1 101 ")
        assert handshake(server.port, f"localhost:{server.port}", [("Origin", f"http://localhost:{server.port}")]).startswith(b"HTTP/1.1 101 ")
        for origin in ("http://evil.example", f"http://127.0.0.1:{server.port + 1}", f"https://{host}"):
            assert handshake(server.port, host, [("Origin", origin)]).startswith(b"HTTP/1.1 403 "), origin


def test_without_a_token_a_rebound_name_is_not_the_servers_own_page(bus):
    # evil.example made to resolve to 127.0.0.1: its page's origin matches the Host it sends.
    with running(bus) as server:
        rebound = f"evil.example:{server.port}"
        assert handshake(server.port, rebound, [("Origin", f"http://{rebound}")]).startswith(b"HTTP/1.1 403 ")
    with running(bus, token=TOKEN) as server:  # with a token the page must still present it
        named = f"camera-box.lan:{server.port}"
        assert handshake(server.port, named, [("Origin", f"http://{named}")]).startswith(b"HTTP/1.1 401 ")
        ok = handshake(server.port, named, [("Origin", f"http://{named}"),
                                            ("Sec-WebSocket-Protocol", f"{SUBPROTOCOL}, {token_subprotocol(TOKEN)}")])
        assert ok.startswith(b"HTTP/1.1 101 ")
        assert f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n".encode() in ok  # the token entry is never echoed
        assert token_subprotocol(TOKEN).encode() not in ok


def test_the_token_as_a_subprotocol_is_checked_like_the_header(bus):
    async def main():
        with running(bus, token=TOKEN) as server:
            ws = await connect(server.url, subprotocols=[SUBPROTOCOL, token_subprotocol(TOKEN)])
            assert ws.subprotocol == SUBPROTOCOL
            assert '"hello"' in await asyncio.wait_for(ws.recv(), TIMEOUT_S)
            await ws.close()
            for offered in ([SUBPROTOCOL, token_subprotocol("a-wrong-token-of-16-chars")], [SUBPROTOCOL],
                            [SUBPROTOCOL, "bearer.jepa-stream.!!"]):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(server.url, subprotocols=offered)
                assert refused.value.response.status_code == 401
        with running(bus) as server:  # clients that offer no subprotocol get none, as before
            ws = await connect(server.url)
            assert ws.subprotocol is None
            await ws.close()

    asyncio.run(main())


def test_a_repeated_host_is_a_400_and_subprotocol_headers_may_repeat(bus):
    with running(bus, token=TOKEN) as server:
        host = f"127.0.0.1:{server.port}"
        assert handshake(server.port, host, [("Host", "evil.example")]).startswith(b"HTTP/1.1 400 ")
        split = [("Sec-WebSocket-Protocol", SUBPROTOCOL), ("Sec-WebSocket-Protocol", token_subprotocol(TOKEN))]
        assert handshake(server.port, host, split).startswith(b"HTTP/1.1 101 ")


def test_the_token_subprotocol_is_redacted_from_logs():
    line = f"> Sec-WebSocket-Protocol: {SUBPROTOCOL}, {token_subprotocol(TOKEN)}"
    assert redact(line) == f"> Sec-WebSocket-Protocol: {SUBPROTOCOL}, bearer.jepa-stream.***"


def test_without_a_token_data_routes_answer_only_a_loopback_host(bus):
    from http import HTTPStatus

    from streamer.feed.http import HttpReply, HttpRoute

    routes = (HttpRoute("/", lambda p, q: HttpReply(HTTPStatus.OK, b"<html>", "text/html"), public=True),
              HttpRoute("/data", lambda p, q: HttpReply.text(HTTPStatus.OK, "data")))

    def get(port, host, path):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            return sock.recv(65536)

    with running(bus, routes=routes) as server:
        assert get(server.port, f"127.0.0.1:{server.port}", "/data").startswith(b"HTTP/1.1 200 ")
        assert get(server.port, f"[::1]:{server.port}", "/data").startswith(b"HTTP/1.1 200 ")
        assert get(server.port, f"evil.example:{server.port}", "/data").startswith(b"HTTP/1.1 403 ")
        assert get(server.port, f"evil.example:{server.port}", "/").startswith(b"HTTP/1.1 200 ")  # the page itself holds nothing
