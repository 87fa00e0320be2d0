"""Plain HTTP routes on the feed's port: matched by path, behind the token unless public."""

from __future__ import annotations

import http.client
import socket
import time
from http import HTTPStatus

import pytest

from feedkit import running
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog
from streamer.feed.http import HttpReply, HttpRoute, find_route
from streamer.feed.limits import HttpSlots
from testlimits import TIMEOUT_S

TOKEN = "a-token-of-16-chars+"


@pytest.fixture
def bus(tmp_path):
    log = SqliteEventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
    yield EventBus(log, sources=["cam0"], profile="lite")
    log.close()


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def echo(path, query):
    return HttpReply(HTTPStatus.OK, f"{path} {sorted(query.items())}".encode(), "text/x-echo", (("Cache-Control", "no-store"),))


def broken(path, query):
    raise RuntimeError("boom")


ROUTES = (HttpRoute("/", lambda p, q: HttpReply(HTTPStatus.OK, b"<html>", "text/html"), public=True),
          HttpRoute("/files/", echo), HttpRoute("/files/special", lambda p, q: HttpReply.text(HTTPStatus.OK, "special")),
          HttpRoute("/broken", broken))


def test_route_matching_is_exact_or_by_prefix():
    assert find_route(ROUTES, "/").path == "/"
    assert find_route(ROUTES, "/index.html") is None  # "/" is the root only
    assert find_route(ROUTES, "/files/a/b.jpg").path == "/files/"
    assert find_route(ROUTES, "/files/special").path == "/files/special"
    assert find_route(ROUTES, "/files") is None
    with pytest.raises(ValueError, match="must start with '/'"):
        HttpRoute("files", echo)


def test_routes_answer_with_their_reply_and_headers(bus):
    with running(bus, routes=ROUTES) as server:
        status, headers, body = get(server.port, "/files/x.jpg?a=1&a=2")
        assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, "text/x-echo", "no-store")
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"  # no other site may embed it
        assert body == b"/files/x.jpg [('a', ['1', '2'])]"
        assert get(server.port, "/")[2] == b"<html>"
        status, _, body = get(server.port, "/nothing-here")
        assert status == HTTPStatus.UPGRADE_REQUIRED  # no route: the feed's own answer


def test_a_failing_handler_is_a_500_naming_the_route_and_the_server_goes_on(bus):
    with running(bus, routes=ROUTES) as server:
        status, _, body = get(server.port, "/broken")
        assert status == 500 and b"/broken: internal error" in body
        assert get(server.port, "/files/a")[0] == 200


def test_private_routes_need_the_token_public_ones_do_not(bus):
    with running(bus, routes=ROUTES, token=TOKEN) as server:
        assert get(server.port, "/files/a")[0] == HTTPStatus.UNAUTHORIZED
        assert get(server.port, "/files/a", {"Authorization": "Bearer wrong-token-of-16-chars"})[0] == HTTPStatus.UNAUTHORIZED
        assert get(server.port, "/files/a", {"Authorization": f"Bearer {TOKEN}"})[0] == HTTPStatus.OK
        assert get(server.port, "/")[0] == HTTPStatus.OK
        assert get(server.port, "/", {"Authorization": "Bearer a", "authorization": "Bearer b"})[0] == HTTPStatus.BAD_REQUEST


def test_http_past_the_bound_gets_503_with_retry_after_and_the_slot_comes_back(bus):
    big = HttpRoute("/big", lambda path, query: HttpReply(HTTPStatus.OK, b"x" * (32 << 20)), public=True)
    with running(bus, [big, HttpRoute("/echo", echo, public=True)], max_http_requests=4, max_http_per_client=1) as server:
        stuck = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stuck.recv(1)  # the 32 MiB answer has begun, and waits on a reader that reads no more
        status, headers, body = get(server.port, "/echo")
        assert (status, headers.get("Retry-After"), body) == (503, "1", b"too many HTTP requests at once; retry later\n")
        stuck.close()  # its slot is given back when the server sees the connection go
        deadline = time.monotonic() + TIMEOUT_S
        while get(server.port, "/echo")[0] != 200:
            assert time.monotonic() < deadline, "the slot never came back"
            time.sleep(0.05)


def test_http_slots_bound_each_client_and_all():
    slots = HttpSlots(total=3, per_client=2)
    assert [slots.take("a"), slots.take("a"), slots.take("a"), slots.take("b"), slots.take("c")] == [True, True, False, True, False]
    assert (slots.in_flight, slots.refused) == (3, 2)
    slots.release("a")
    assert slots.take("c") and not slots.take("d")
