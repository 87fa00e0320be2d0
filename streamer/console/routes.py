"""The console's HTTP routes on the feed's port (:mod:`streamer.feed.http`).

Exports :func:`console_routes`.

* ``/`` and ``/console/<file>``: the page and its script and style, public (the page asks for the
  token; it must load without one). Read from the package once, when the routes are made.
* ``/console/settings.json``: the page's bounds (:meth:`ConsoleConfig.page_settings`), public.
* ``/favicon.ico``: the page's icon (an SVG, which browsers take there too), public.
* ``/frames/<source>.jpg``: a source's newest frame (:class:`~streamer.console.newest.NewestFrames`),
  behind the token; ``/frames/`` lists the sources that have one (the page checks its token there).
* ``/drift.json``: each source's drift of the last minute (:class:`~streamer.console.history.DriftHistory`),
  behind the token: a page that connects starts its traces with it.
* ``/snapshots/<source>/<name>.jpg``: caption snapshots (:class:`~streamer.console.snapshots.SnapshotStore`),
  behind the token.

A picture that does not exist (yet, or any more) is a 404 the page shows as a placeholder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from importlib import resources

from streamer.console.console_config import ConsoleConfig
from streamer.console.history import DriftHistory
from streamer.console.newest import NewestFrames
from streamer.console.snapshots import SnapshotStore
from streamer.feed.http import HttpReply, HttpRoute

__all__ = ["console_routes"]

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml"}
_FRAME = re.compile(r"/frames/([A-Za-z_][A-Za-z0-9_.\-]{0,63})\.jpg")
# The page runs only its own script: no inline code, nothing from elsewhere (also not a snapshot's bytes).
_CSP = ("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; connect-src 'self' ws: wss:; "
                                   "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_NO_SNIFF = ("X-Content-Type-Options", "nosniff")


def _static() -> dict[str, HttpReply]:
    files = resources.files("streamer.console").joinpath("static")
    replies = {}
    for item in files.iterdir():
        suffix = item.name[item.name.rfind("."):]
        if suffix in _TYPES:
            replies[item.name] = HttpReply(HTTPStatus.OK, item.read_bytes(), _TYPES[suffix],
                                           (_CSP, _NO_SNIFF, ("Cache-Control", "no-cache")))
    return replies


def _jpeg(data: bytes | None, cache: str, missing: str) -> HttpReply:
    if data is None:
        return HttpReply.text(HTTPStatus.NOT_FOUND, missing)
    return HttpReply(HTTPStatus.OK, data, "image/jpeg", (("Cache-Control", cache), _NO_SNIFF))


def console_routes(config: ConsoleConfig, frames: NewestFrames | None, snapshots: SnapshotStore | None,
                   history: DriftHistory | None = None) -> list[HttpRoute]:
    """The page's routes, plus ``/frames/`` with ``frames``, ``/snapshots/`` with ``snapshots``
    and ``/drift.json`` with ``history``."""
    static = _static()
    settings = HttpReply(HTTPStatus.OK, json.dumps(config.page_settings()).encode(), "application/json",
                         (("Cache-Control", "no-cache"),))

    def page_file(path: str, query: Mapping[str, list[str]]) -> HttpReply:
        name = {"/": "index.html", "/favicon.ico": "favicon.svg"}.get(path) or path.removeprefix("/console/")
        if name == "settings.json":
            return settings
        return static.get(name) or HttpReply.text(HTTPStatus.NOT_FOUND, f"{path}: no such console file")

    routes = [HttpRoute(path, page_file, public=True) for path in ("/", "/console/", "/favicon.ico")]
    if frames is not None:
        def frame(path: str, query: Mapping[str, list[str]]) -> HttpReply:
            if path == "/frames/":  # the sources with a frame; the page also checks its token here
                return HttpReply(HTTPStatus.OK, json.dumps({"sources": frames.sources()}).encode(), "application/json",
                                 (("Cache-Control", "no-store"),))
            match = _FRAME.fullmatch(path)
            return _jpeg(frames.jpeg(match.group(1)) if match else None, "no-store", f"{path}: no frame (yet)")
        routes.append(HttpRoute("/frames/", frame))
    if history is not None:
        routes.append(HttpRoute("/drift.json", lambda path, query: HttpReply(
            HTTPStatus.OK, json.dumps(history.snapshot()).encode(), "application/json", (("Cache-Control", "no-store"),))))
    if snapshots is not None:
        routes.append(HttpRoute("/snapshots/", lambda path, query: _jpeg(
            snapshots.read(path), "private, max-age=86400, immutable", f"{path}: no such snapshot (expired?)")))
    return routes
