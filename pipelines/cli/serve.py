"""``jepa-stream serve --bus nats://…``: a gateway, the feed of a whole site from the event engine.

Exports :func:`add_parser`.

A gateway loads no model and reads no camera: it serves the WebSocket feed, the console page and
``/metrics`` on one port, with the same protocol, token and origin rules as ``run``, from the
site's JetStream stream (:mod:`streamer.feed.gateway`). A client's ``from_seq`` means the same on
every gateway, so any number of them can stand behind one load balancer. Snapshots come from the
engine's object store, where the workers put them (:mod:`streamer.feed.snapshot_bucket`).
A ``webhooks:`` section in its config POSTs the site's events from the stream, signed, at least
once, from a cursor on the gateway's disk (:func:`~pipelines.cli.integrations.open_gateway_integrations`).
It runs until Ctrl-C or SIGTERM, like ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from pipelines.cli.common import hide
from pipelines.config import load_config
from pipelines.errors import UsageError
from streamer.feed.protocol import TOKEN_ENV

__all__ = ["add_parser"]

#: Seconds a gateway waits for the engine at start before it gives up (a service manager restarts it).
ENGINE_WAIT_S = 30.0


def add_parser(sub) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    serve = sub.add_parser(
        "serve", help="serve a site's event feed, console and /metrics from the event engine (no models)",
        description="A gateway: serve the WebSocket feed, the browser console and Prometheus /metrics of every "
        "source of a site, read from the NATS JetStream engine that `run --bus` workers publish to. Loads no "
        "model. Runs until Ctrl-C or SIGTERM.")
    serve.add_argument("--bus", metavar="URL", help="the engine: nats://host:4222, comma-separated for a cluster "
                       "(default: feed.bus.url of --config)")
    serve.add_argument("--config", metavar="FILE", help="YAML laid over the built-in defaults (feed.bus: site, "
                       "TLS, credentials; feed.server: host, port, token, origins; webhooks: the site's events "
                       "POSTed from this gateway)")
    serve.add_argument("--host", help="feed interface (default 127.0.0.1; anything else needs a token)")
    serve.add_argument("--port", type=int, help="feed port (default 8765; 0 picks a free one)")
    serve.add_argument("--token", help=f"feed auth token; prefer ${TOKEN_ENV}")
    serve.set_defaults(handler=_cmd_serve)


def _config(args: argparse.Namespace):
    server: dict = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    token = args.token or os.environ.get(TOKEN_ENV)
    if token:
        server["token"] = token
    feed: dict = {"server": server}
    if args.bus:
        feed["bus"] = {"url": args.bus}
    config = load_config(args.config, {"feed": feed})
    hide(config.feed.server.token, "the feed token")
    hide(config.feed.bus.password, "feed.bus.password")
    hide(config.webhooks.secret, "webhooks.secret")
    if not config.feed.bus.url:
        raise UsageError("serve reads the event engine: give --bus nats://HOST:4222, or feed.bus.url in --config")
    return config


def _cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.cli.integrations import open_gateway_integrations
    from streamer.console.routes import console_routes
    from streamer.feed.engine import open_engine
    from streamer.feed.gateway_app import start_gateway
    from streamer.feed.log_api import LogUnavailable
    from streamer.feed.snapshot_bucket import SnapshotBucket

    config = _config(args)
    bus_config = config.feed.bus
    with contextlib.ExitStack() as stack:
        print(f"jepa-stream: connecting to the event engine {bus_config.servers[0]}", file=sys.stderr, flush=True)
        try:
            engine = open_engine(bus_config, config.feed.log, "gateway", wait_s=ENGINE_WAIT_S)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        stack.callback(engine.close)
        routes = console_routes(config.feed.console, None, None) if config.feed.console.enabled else []
        if config.feed.snapshots.enabled:  # the workers put them in the engine's object store
            routes.append(SnapshotBucket(engine.link, bus_config, config.feed.snapshots,
                                         config.feed.log.retention_max_age_s).route())
        try:
            gateway = start_gateway(engine, config.feed.server, routes, [s.id for s in config.sources])
        except (OSError, LogUnavailable) as exc:
            raise UsageError(str(exc)) from None
        stack.callback(gateway.close)
        try:  # once the stream exists: a new cursor starts at its end
            sinks = open_gateway_integrations(config, engine.log)
        except LogUnavailable as exc:
            raise UsageError(str(exc)) from None
        for sink in sinks:  # fed by the stream's tail; stopped before the server, delivering what it can
            sink.start()
            gateway.bus.add_sink(sink)
            stack.callback(sink.stop)
        print(f"jepa-stream: serving events on {gateway.server.url} from stream {bus_config.stream} "
              f"(seq {gateway.bus.last_seq})", file=sys.stderr, flush=True)
        while True:  # until SIGTERM or Ctrl-C (StopSignals, installed by main, raises KeyboardInterrupt)
            time.sleep(3600)
