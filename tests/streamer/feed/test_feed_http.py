"""Plain HTTP routes on the feed's port: matched by path, behind the token unless public."""

from __future__ import annotations

import http.client
from http import HTTPStatus

import pytest

from feedkit import running
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog, EventLogConfig
from streamer.feed.http import HttpReply, HttpRoute, find_route
from testlimits import TIMEOUT_S

TOKEN = "a-token-of-16-chars+"


@pytest.fixture
def bus(tmp_path):
    log = EventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
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
