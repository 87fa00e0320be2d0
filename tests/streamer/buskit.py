"""Helpers for the event-engine tests: a worker's bus, a gateway, and a WebSocket reader.

Exports :class:`Worker`, :class:`Gateway`, :class:`Reader` and :func:`texts`.

Everything is real: the engine is a ``nats-server`` of :mod:`natskit`, the gateway serves a real
WebSocket port on 127.0.0.1, and the reader is a ``websockets`` client in a thread. Every wait
has the suite's deadline (:data:`testlimits.TIMEOUT_S`).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from feedkit import caption
from streamer.feed.bus import EventBus
from streamer.feed.bus_config import BusConfig
from streamer.feed.engine import LiveSink, open_engine
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.gateway_app import start_gateway
from streamer.feed.server_config import ServerConfig
from testlimits import TIMEOUT_S, wait_for


def texts(messages: list[dict]) -> list[str]:
    """The caption texts of ``messages``, in order."""
    return [m["text"] for m in messages if m.get("type") == "caption"]


class Worker:
    """A worker's bus on the engine (outbox of ``outbox_max``), publishing numbered captions on demand."""

    def __init__(self, config: BusConfig, outbox_max: int = 10_000, source: str = "cam0") -> None:
        self.engine = open_engine(config, EventLogConfig(), "worker")
        self.bus = EventBus(self.engine.log, sources=[source], outbox_max=outbox_max, retry_s=0.05)
        self.bus.add_sink(LiveSink(self.engine.link, config))
        self.source, self.published = source, 0

    def publish(self, count: int = 1) -> None:
        for _ in range(count):
            self.published += 1
            self.bus.publish(caption(self.published, self.source))

    def run_in_thread(self, per_s: float) -> tuple[threading.Event, threading.Thread]:
        """Publish ``per_s`` captions a second until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(1.0 / per_s):
                self.publish()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return stop, thread

    def close(self) -> None:
        self.bus.close()
        self.engine.close()


class Gateway:
    """``jepa-stream serve --bus`` in this process (:func:`~streamer.feed.gateway_app.start_gateway`, port 0)."""

    def __init__(self, config: BusConfig, routes=()) -> None:
        self.engine = open_engine(config, EventLogConfig(), "gateway", wait_s=TIMEOUT_S)
        self.parts = start_gateway(self.engine, ServerConfig(port=0), routes)
        self.bus, self.server = self.parts.bus, self.parts.server

    @property
    def url(self) -> str:
        return self.server.url

    def metrics(self) -> str:
        """The text of its ``/metrics``."""
        base = self.url.replace("ws://", "http://", 1).rstrip("/")
        with urllib.request.urlopen(f"{base}/metrics", timeout=TIMEOUT_S) as reply:
            return reply.read().decode()

    def close(self) -> None:
        self.parts.close()
        self.engine.close()


@dataclass
class Reader:
    """A WebSocket client in a thread: subscribes (``from_seq``) and keeps every message it gets.

    As docs/PROTOCOL.md tells a client to, it reconnects when the server closes it with 4000 (its
    queue overflowed with logged events, e.g. a gateway catching up after an outage) and resumes
    with ``from_seq`` = the last seq it received; ``resumes`` counts those reconnections."""

    url: str
    from_seq: int | None = None
    types: tuple[str, ...] = ("caption", "status")
    messages: list[dict] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    resumes: int = 0
    _closing: bool = False

    def __post_init__(self) -> None:
        self._stack = ExitStack()
        self._ws = self._subscribe(self.from_seq)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_for(lambda: any(m["type"] == "subscribed" for m in list(self.messages)), "subscribed")

    def _subscribe(self, from_seq: int | None):
        ws = self._stack.enter_context(connect(self.url, open_timeout=TIMEOUT_S))
        request = {"v": 1, "type": "subscribe", "types": list(self.types)}
        if from_seq is not None:
            request["from_seq"] = from_seq
        ws.send(json.dumps(request))
        return ws

    def _read(self) -> None:
        try:
            while True:
                subscribed = False
                try:
                    for text in self._ws:
                        message = json.loads(text)
                        subscribed = subscribed or message["type"] == "subscribed"
                        if subscribed:  # what came before is the default subscription's
                            self.messages.append(message)
                    return  # a normal close
                except ConnectionClosed as closed:
                    if self._closing or closed.rcvd is None or closed.rcvd.code != 4000:
                        return
                self.resumes += 1
                self._ws = self._subscribe(self.seqs[-1] if self.seqs else self.from_seq)
        finally:
            self.closed.set()

    @property
    def seqs(self) -> list[int]:
        """The seqs of the logged events received, in order."""
        return [m["seq"] for m in list(self.messages) if m.get("seq") is not None]

    def engine_states(self) -> list[str]:
        return [m["state"] for m in list(self.messages) if m.get("type") == "status" and m["source"] == "engine"]

    def close(self) -> None:
        self._closing = True
        self._stack.close()
        self._thread.join(TIMEOUT_S)
