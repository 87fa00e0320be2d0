"""Plain HTTP beside the WebSocket feed: the routes a feed server answers without upgrading.

Exports :class:`HttpReply`, :data:`HttpHandler`, :class:`HttpRoute` and :func:`find_route`.

The feed's port serves more than the feed: a browser console, snapshots, metrics. Each is a
:class:`HttpRoute` handed to :class:`~streamer.feed.server.FeedServer`, which answers a ``GET``
that does not ask for a WebSocket upgrade with the route that matches its path, after the same
checks as a feed handshake (repeated headers, connection cap, token). A route marked ``public``
skips the token check: the page that asks a person for the token must load without it.

Handlers run on the server's event loop: they must be quick (no more than a small file read)
and must not block on the pipeline. What a handler raises becomes a 500 naming the route, and
the connection stays usable for others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["HttpReply", "HttpHandler", "HttpRoute", "find_route"]


@dataclass(frozen=True)
class HttpReply:
    """One HTTP response: ``status``, ``body`` and its ``content_type``; ``headers`` are extra
    ``(name, value)`` pairs (for example ``Cache-Control``)."""

    status: HTTPStatus
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: HTTPStatus, message: str) -> HttpReply:
        """A plain-text reply of one line (a newline is added)."""
        return cls(status, f"{message}\n".encode())


#: A route's handler: ``(path, query)`` → reply. ``path`` is the request path without the query;
#: ``query`` maps each parameter to its values.
HttpHandler = Callable[[str, Mapping[str, list[str]]], HttpReply]


@dataclass(frozen=True)
class HttpRoute:
    """``path`` is matched exactly, or as a prefix when it ends with ``/`` (``/snapshots/``
    serves everything under it; ``/`` alone matches only the root). ``public`` routes are
    served without the feed's token."""

    path: str
    handler: HttpHandler
    public: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"an HTTP route's path must start with '/', got {self.path!r}")

    def matches(self, path: str) -> bool:
        if self.path == "/" or not self.path.endswith("/"):
            return path == self.path
        return path.startswith(self.path)


def find_route(routes: Sequence[HttpRoute], path: str) -> HttpRoute | None:
    """The route for ``path``: an exact match first, else the longest matching prefix."""
    best = None
    for route in routes:
        if route.path == path:
            return route
        if route.matches(path) and (best is None or len(route.path) > len(best.path)):
            best = route
    return best
