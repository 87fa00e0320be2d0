"""Hostile and broken clients: each gets its documented answer, and everyone else keeps being served."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import jsonschema
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feedkit import TIMEOUT_S, caption, masked_frame, open_subscribed, publish, raw_connect, read_until_close, recv_json, running
from streamer.feed.protocol import CloseCode, load_schema
from streamer.secrets import RedactingFilter
from streamer.feed.server_config import ServerConfig


async def bystander_still_served(bus, bystander, expected_seq: int) -> None:
    await publish(bus, caption(expected_seq))
    event = await recv_json(bystander)
    assert (event["type"], event["seq"]) == ("caption", expected_seq)


async def expect_error(ws, reason: str) -> dict:
    message = await recv_json(ws)
    assert (message["type"], message["reason"]) == ("error", reason), message
    jsonschema.validate(message, load_schema("error"))
    return message


@pytest.mark.parametrize("message, reason", [
    ("{not json", "bad_json"),
    (b"\x00\xff\xfe binary garbage", "binary_not_accepted"),
    ('{"type": "subscribe", "from_seq": "yesterday"}', "bad_message"),
    ('{"type": "subscribe", "types": ["caption", 7]}', "bad_message"),
    ('{"type": "unsubscribe"}', "unknown_type"),
    ('{"type": "subscribe", "v": 9}', "unsupported_version"),
    ('"just a string"', "bad_message"),
    ("x" * 10_000, "too_big"),
])
def test_each_bad_message_gets_an_error_and_the_connection_stays_usable(bus, server, message, reason):
    async def main():
        bystander, _, _ = await open_subscribed(server.url, types=["caption"])
        ws, _, _ = await open_subscribed(server.url)
        await ws.send(message)
        await expect_error(ws, reason)
        await ws.send(json.dumps({"type": "subscribe", "types": ["caption"], "from_seq": 0}))
        assert (await recv_json(ws))["type"] == "subscribed", "the connection still works"
        await bystander_still_served(bus, bystander, 1)
        assert (await recv_json(ws))["seq"] == 1
        await asyncio.gather(ws.close(), bystander.close())

    asyncio.run(main())


async def one_frame_over_the_hard_limit(ws, hello: dict) -> None:
    await ws.send("x" * (ServerConfig().max_frame_bytes + 1))


async def bad_messages_until_out_of_strikes(ws, hello: dict) -> None:
    strikes = hello["limits"]["max_strikes"]
    for _ in range(strikes):
        await ws.send("{oops")
    for _ in range(strikes):
        await expect_error(ws, "bad_json")


@pytest.mark.parametrize("provoke, code", [
    (one_frame_over_the_hard_limit, CloseCode.MESSAGE_TOO_BIG),
    (bad_messages_until_out_of_strikes, CloseCode.POLICY_VIOLATION),
], ids=["frame_over_the_hard_limit_1009", "repeated_bad_messages_1008"])
def test_a_client_past_a_limit_is_closed_with_its_code_and_others_are_unaffected(bus, server, provoke, code):
    async def main():
        bystander, _, _ = await open_subscribed(server.url, types=["caption"])
        ws, hello, _ = await open_subscribed(server.url)
        await provoke(ws, hello)
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd.code == code
        await bystander_still_served(bus, bystander, 1)
        await bystander.close()

    asyncio.run(main())


def test_a_subscribe_flood_is_rate_limited_then_closed(bus, server):
    async def main():
        bystander, _, _ = await open_subscribed(server.url, types=["caption"])
        ws, hello, _ = await open_subscribed(server.url)
        burst = hello["limits"]["client_message_burst"]
        try:
            for _ in range(200):
                await ws.send('{"type": "subscribe", "from_seq": 0}')
        except ConnectionClosed:
            pass
        replies = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                replies.append(await recv_json(ws))
        assert closed.value.rcvd.code == CloseCode.POLICY_VIOLATION
        acks = [r for r in replies if r["type"] == "subscribed"]
        limited = [r for r in replies if r.get("reason") == "rate_limited"]
        assert burst - 1 <= len(acks) <= burst + 1 and len(limited) == hello["limits"]["max_strikes"]
        await bystander_still_served(bus, bystander, 1)
        await bystander.close()

    asyncio.run(main())


def test_websocket_protocol_garbage_only_costs_that_connection(bus, server):
    async def main():
        bystander, _, _ = await open_subscribed(server.url, types=["caption"])
        sock = raw_connect(server.port)
        sock.sendall(masked_frame(1, b'{"type":"subscribe"}', mask=False))  # clients must mask
        _, code, _ = await asyncio.to_thread(read_until_close, sock)
        assert code == 1002
        sock.close()
        sock = raw_connect(server.port)
        sock.sendall(b"\xff" * 64)  # not even a frame
        _, code, _ = await asyncio.to_thread(read_until_close, sock)
        assert code == 1002
        sock.close()
        await bystander_still_served(bus, bystander, 1)
        await bystander.close()

    asyncio.run(main())


def test_token_is_required_by_header_or_query(bus):
    async def main():
        with running(bus, token="s3cret") as server:
            for headers, url in [(None, server.url), ({"Authorization": "Bearer wrong"}, server.url),
                                 (None, server.url + "?token=wrong"), ({"Authorization": "Basic s3cret"}, server.url)]:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(url, additional_headers=headers)
                assert refused.value.response.status_code == 401
                assert b"missing or wrong token" in refused.value.response.body
            for headers, url in [({"Authorization": "Bearer s3cret"}, server.url), (None, server.url + "?token=s3cret")]:
                ws = await connect(url, additional_headers=headers)
                assert (await recv_json(ws))["type"] == "hello"
                await ws.close()

    asyncio.run(main())


def test_browsers_need_an_allowed_origin(bus):
    async def main():
        with running(bus, allowed_origins=("http://dashboard.local:3000",)) as server:
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url, origin="https://evil.example")
            assert refused.value.response.status_code == 403
            assert b"origin https://evil.example is not allowed" in refused.value.response.body
            for origin in ("http://dashboard.local:3000", None):
                ws = await connect(server.url, origin=origin)
                assert (await recv_json(ws))["type"] == "hello"
                await ws.close()
        with running(bus) as server:  # by default no browser page may connect
            with pytest.raises(InvalidStatus):
                await connect(server.url, origin="http://localhost:8000")

    asyncio.run(main())


def test_connections_are_capped(bus):
    async def main():
        with running(bus, max_connections=3) as server:
            clients = [(await open_subscribed(server.url))[0] for _ in range(3)]
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url)
            assert refused.value.response.status_code == 503
            await clients.pop().close()
            deadline = time.monotonic() + TIMEOUT_S
            while server.connections >= 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            clients.append((await open_subscribed(server.url))[0])
            for ws in clients:
                await ws.close()

    asyncio.run(main())


def test_a_client_that_stops_answering_pings_is_dropped(bus):
    with running(bus, ping_interval_s=0.2, ping_timeout_s=0.2) as server:
        sock = raw_connect(server.port)  # reads, but never answers a ping
        deadline = time.monotonic() + TIMEOUT_S
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections == 0
        sock.close()


def test_serving_beyond_loopback_without_a_token_is_refused():
    with pytest.raises(ValueError, match="refusing to serve the feed on 0.0.0.0 without a token.*JEPA_STREAM_TOKEN"):
        ServerConfig(host="0.0.0.0")
    config = ServerConfig(host="0.0.0.0", token="s3cret-value-of-16")
    assert config.token == "s3cret-value-of-16" and "s3cret-value-of-16" not in repr(config)
    with pytest.raises(ValueError, match="token of 12 characters: it needs at least 16"):
        ServerConfig(host="0.0.0.0", token="s3cret-value")
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert ServerConfig(host=host).token is None


def test_server_config_rejects_bad_limits_naming_them():
    assert ServerConfig(port=9000, allowed_origins=["http://a"]).allowed_origins == ("http://a",)
    with pytest.raises(ValueError, match=r"^client_queue: must be an integer within 1\.\.65536 \(got 0\)$"):
        ServerConfig(client_queue=0)
    with pytest.raises(ValueError, match=r"^port: must be an integer within 0\.\.65535 \(got 70000\)$"):
        ServerConfig(port=70000)
    with pytest.raises(ValueError, match="max_frame_bytes"):
        ServerConfig(max_message_bytes=10_000, max_frame_bytes=5_000)


def test_a_busy_port_is_a_clear_error(bus, server):
    from streamer.feed.server import FeedServer

    with pytest.raises(OSError, match=f"cannot serve the feed on 127.0.0.1:{server.port}"):
        FeedServer(ServerConfig(port=server.port), bus).start()


def raw_handshake(port: int, extra_headers: list[tuple[str, str]]) -> bytes:
    """Send one handshake request by hand (headers may repeat); return the whole response."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        headers = "".join(f"{k}: {v}\r\n" for k, v in extra_headers)
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     f"{headers}\r\n".encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return response


def test_a_repeated_header_is_a_400_and_a_flood_of_them_logs_a_bounded_amount(bus, caplog):
    caplog.set_level(logging.DEBUG, logger="websockets")
    with running(bus, token="a-token-of-16-chars+", peer_log_lines_per_s=0.01) as server:  # no refill during the test
        for name, value in [("Origin", "http://a"), ("Authorization", "Bearer a-token-of-16-chars+")]:
            response = raw_handshake(server.port, [(name, value), (name, value)])
            assert response.startswith(b"HTTP/1.1 400 ") and f"repeated {name} header".encode() in response
        caplog.clear()
        for _ in range(200):
            assert raw_handshake(server.port, [("Origin", "a"), ("Origin", "b")]).startswith(b"HTTP/1.1 400 ")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    library = [r for r in caplog.records if r.name.startswith("websockets")]
    assert len(library) <= 2 * ServerConfig().peer_log_burst + 5, f"{len(library)} records for one peer"


def test_the_servers_debug_log_hides_tokens_behind_the_cli_filter(bus, caplog):
    caplog.handler.addFilter(RedactingFilter())  # what the CLI sets on its log handler
    caplog.set_level(logging.DEBUG, logger="websockets")
    token = "a-token-of-16-chars+"

    async def main():
        with running(bus, token=token) as server:
            for url, headers in [(server.url + f"?token={token}", None),
                                 (server.url, {"Authorization": f"Bearer {token}"}),
                                 (server.url + "?token=a-wrong-guess", None)]:
                try:
                    ws = await connect(url, additional_headers=headers)
                    await ws.close()
                except InvalidStatus:
                    pass

    asyncio.run(main())
    assert "GET /?token=*** HTTP/1.1" in caplog.text and "Authorization: Bearer ***" in caplog.text
    assert token not in caplog.text and "a-wrong-guess" not in caplog.text
