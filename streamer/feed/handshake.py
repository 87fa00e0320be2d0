"""The feed port's front door: which requests become a WebSocket, which get an HTTP answer.

Exports :class:`Gate` and :func:`select_subprotocol`.

Every request on the feed's port passes :meth:`Gate.check` before anything else happens:
repeated security headers, the connection cap, the ``Origin`` rules (listed origins, or the
server's own page), the token (``Authorization: Bearer``, the browser's token subprotocol or
``?token=``), and the plain HTTP routes (:mod:`streamer.feed.http`) for requests that ask for
no upgrade. Nothing here keeps state between requests.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Sequence
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from streamer.feed.http import HttpReply, HttpRoute, find_route
from streamer.feed.protocol import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX
from streamer.feed.server_config import ServerConfig, is_loopback

__all__ = ["Gate", "select_subprotocol"]

logger = logging.getLogger("streamer.feed.server")


class Gate:
    """The handshake checks of one server: its ``config`` (token, origins, connection cap) and
    its HTTP ``routes``."""

    def __init__(self, config: ServerConfig, routes: Sequence[HttpRoute] = ()) -> None:
        self.config, self.routes = config, tuple(routes)

    def check(self, ws: ServerConnection, request: Request, open_sessions: int) -> Response | None:
        """Refuse a handshake with a repeated Origin, Authorization or Host header (400), over the
        connection cap (503), from a foreign Origin (403: neither allowed nor the server's own
        page, :meth:`_same_origin`), or without the token (401). A
        request that asks for no upgrade is answered by its HTTP route (401 without the token
        unless the route is public; without a token configured, 403 for a private route asked
        for under a Host that is not loopback); without a route, ``websockets`` answers 426."""
        for name in ("Origin", "Authorization", "Host"):
            if len(request.headers.get_all(name)) > 1:
                return ws.respond(HTTPStatus.BAD_REQUEST, f"repeated {name} header\n")
        if open_sessions >= self.config.max_connections:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                              f"too many connections (limit {self.config.max_connections}); retry later\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            path = urlsplit(request.path)
            route = find_route(self.routes, path.path)
            if route is not None:
                if not route.public and not self._authorized(request):
                    return ws.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
                if not route.public and self.config.token is None and not _loopback_host(request):
                    return ws.respond(HTTPStatus.FORBIDDEN, "without a token only a loopback Host may read data\n")
                return _response(self._answer(route, path.path, parse_qs(path.query)))
        origin = request.headers.get("Origin")
        allowed = self.config.allowed_origins
        if origin is not None and "*" not in allowed and origin not in allowed and not self._same_origin(request, origin):
            return ws.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")
        if not self._authorized(request):
            return ws.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    def _same_origin(self, request: Request, origin: str) -> bool:
        """Whether ``origin`` is this server's own page (``http://`` + the ``Host`` header).

        Without a token only a loopback ``Host`` counts: a page of another site whose name was
        made to resolve to 127.0.0.1 (DNS rebinding) names its own host, not a loopback one.
        """
        host = request.headers.get("Host", "")
        if not host or origin != f"http://{host}":
            return False
        return self.config.token is not None or _loopback_host(request)

    def _authorized(self, request: Request) -> bool:
        """Whether ``request`` presents the token (``Authorization: Bearer``, the
        ``Sec-WebSocket-Protocol`` entry of :func:`token_subprotocol` or ``?token=``), or none is needed."""
        if self.config.token is None:
            return True
        auth = request.headers.get("Authorization", "")
        offered = [p.strip() for p in ",".join(request.headers.get_all("Sec-WebSocket-Protocol")).split(",")]
        carried = [p for p in offered if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)]
        if auth.startswith("Bearer "):
            presented = auth[len("Bearer "):]
        elif carried:
            presented = _decode_token(carried[0][len(TOKEN_SUBPROTOCOL_PREFIX):])
        else:
            presented = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        return hmac.compare_digest(presented.encode(), self.config.token.encode())

    @staticmethod
    def _answer(route: HttpRoute, path: str, query: dict[str, list[str]]) -> HttpReply:
        try:
            return route.handler(path, query)
        except Exception:  # one broken handler must not take the feed down
            logger.exception("HTTP route %s failed on %s", route.path, path)
            return HttpReply.text(HTTPStatus.INTERNAL_SERVER_ERROR, f"{route.path}: internal error (see the server log)")


def _loopback_host(request: Request) -> bool:
    """Whether the request's ``Host`` names this machine (a server without a token answers data
    only then: a page whose own name was made to resolve to 127.0.0.1 sends that name)."""
    try:
        return is_loopback(urlsplit(f"//{request.headers.get('Host', '')}").hostname or "")
    except ValueError:  # a Host that is no host
        return False


def _decode_token(encoded: str) -> str:
    """The token of a :func:`token_subprotocol` entry ("" when it does not decode)."""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def select_subprotocol(ws: ServerConnection, offered: Sequence[str]) -> str | None:
    """Answer :data:`SUBPROTOCOL` when the client offers it (a browser requires one of its
    offers back), else no subprotocol; the token entry is never echoed."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def _response(reply: HttpReply) -> Response:
    """``reply`` as a ``websockets`` response; the connection closes after it.

    Every route's answer is ``Cross-Origin-Resource-Policy: same-origin``: another site's page
    cannot even show (let alone read) a frame or snapshot through an ``<img>`` of its own, which
    a loopback server without a token would otherwise serve it."""
    headers = Headers([("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))),
                       ("Connection", "close"), ("Cross-Origin-Resource-Policy", "same-origin"), *reply.headers])
    return Response(reply.status.value, reply.status.phrase, headers, reply.body)
