"""The lease keeper: one thread per worker that holds its fair share of cameras.

Exports :class:`LeaseKeeper` and :func:`default_worker_name`.

Every ``renew_s`` (a third of the lease timeout) the keeper's own asyncio loop, on its own
thread, does one round (:meth:`LeaseKeeper._round`):

1. announce this worker (heartbeat);
2. renew each lease by compare-and-set; a refused renewal, or one not done within ``give_up_s``
   (two thirds of the timeout: an unreachable engine, a paused process), drops the camera;
3. count the live workers: the fair share is ceil(cameras / workers); cameras held beyond it are
   marked to be released (the run loop lets them go at a clip boundary, then calls :meth:`release`);
4. under the share, claim free cameras, in an order of its own (rendezvous hashing on the worker's
   name), so workers seldom race for the same key.

The first round only announces: claims start one period later, once the other workers' heartbeats
are seen, so a worker that starts beside others does not take every camera first. The run loop
reads :meth:`held`, :meth:`excess` and the publish fence :meth:`fresh` from its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence

import nats
import nats.errors
import nats.js.errors

from streamer.cluster.book import LeaseBook, fair_share
from streamer.cluster.cluster_config import ClusterConfig
from streamer.cluster.leases import LeaseStore

__all__ = ["LeaseKeeper", "default_worker_name"]

log = logging.getLogger(__name__)

_ENGINE_ERRORS = (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError, OSError)
#: Seconds :meth:`LeaseKeeper.start` waits for the engine and the buckets.
CONNECT_TIMEOUT_S = 10.0


def default_worker_name() -> str:
    """``<host>-<pid>``, with characters a bucket key refuses replaced by ``_``."""
    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname())[:40] or "worker"
    return f"{host}-{os.getpid()}"


def _order(worker: str, cameras: Sequence[str]) -> list[str]:
    """``cameras`` in this worker's preference order (rendezvous hashing: each worker its own)."""
    return sorted(cameras, key=lambda c: hashlib.sha1(f"{worker}/{c}".encode()).digest())


class LeaseKeeper:
    """Holds a fair share of ``cameras`` for the worker ``config.worker`` on the engine at ``url``.

    :meth:`start` connects and creates the buckets (``ValueError`` naming the engine or bucket on
    failure), :meth:`stop` releases every lease and the heartbeat so others take over at once.
    """

    def __init__(self, url: str, cameras: Sequence[str], config: ClusterConfig, *, replicas: int = 1,
                 connect_options: dict | None = None):
        self.url, self.cameras, self.config = url, tuple(cameras), config
        self.worker = config.worker or default_worker_name()
        self.book = LeaseBook(config.give_up_s)
        self._replicas, self._options = replicas, connect_options or {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._main, name=f"lease-keeper-{self.worker}", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        if not self._started.wait(CONNECT_TIMEOUT_S + 5):
            self._error = self._error or f"{self.url}: no answer within {CONNECT_TIMEOUT_S:g} s"
        if self._error:
            self.stop()
            raise ValueError(self._error)
        return self

    def stop(self) -> None:
        """Release every lease and the heartbeat (best effort), close the connection, end the thread.
        Idempotent."""
        if self._stopping is not None:
            self._soon(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join(CONNECT_TIMEOUT_S)

    def held(self) -> frozenset[str]:
        """Cameras held and fresh: what the run loop should analyse."""
        return self.book.held()

    def excess(self) -> frozenset[str]:
        """Held cameras beyond the fair share: release each at its next clip boundary."""
        return self.book.excess()

    def fresh(self, camera: str) -> bool:
        """The publish fence: ``camera`` is held and was renewed within ``give_up_s``."""
        return self.book.fresh(camera)

    def release(self, camera: str) -> None:
        """The run loop stopped ``camera``: forget it now (the fence closes) and delete its lease."""
        lease = self.book.drop(camera)
        if lease is not None:
            self._soon(lambda: self._loop.create_task(self._release(lease.source, lease.revision)))

    def _soon(self, callback) -> None:
        """Run ``callback`` on the keeper's loop, unless it has ended (then a lease ages out)."""
        try:
            self._loop.call_soon_threadsafe(callback)
        except (AttributeError, RuntimeError):  # no loop yet, or closed
            pass

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        try:  # a few attempts at start, so a wrong URL is an error; once connected, reconnect for ever
            nc = await nats.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, max_reconnect_attempts=2,
                                    reconnect_time_wait=0.5, error_cb=self._engine_error, **self._options)
        except (*_ENGINE_ERRORS, ValueError) as exc:
            self._error = f"{self.url}: cannot connect to the engine ({exc or type(exc).__name__})"
            self._started.set()
            return
        nc.options["max_reconnect_attempts"] = -1  # nats-py reads it at each reconnect
        try:
            self._store = await LeaseStore.open(nc.jetstream(timeout=self.config.renew_s / 2), self.config, self.worker,
                                               self._replicas)
        except (*_ENGINE_ERRORS, ValueError) as exc:
            self._error = f"{self.url}: cannot open the lease buckets ({exc or type(exc).__name__})"
        self._started.set()
        if not self._error:
            await self._keep()
        with contextlib.suppress(*_ENGINE_ERRORS):  # an engine that went away cannot hear goodbye
            await nc.close()

    async def _engine_error(self, exc: Exception) -> None:
        """nats-py's report of a connection problem: one line, not its traceback."""
        log.debug("%s: engine connection: %s", self.worker, exc or type(exc).__name__)

    async def _keep(self) -> None:
        first = True
        while not self._stopping.is_set():
            try:
                await self._round(claim=not first)
            except _ENGINE_ERRORS as exc:  # the engine is away: leases age; the fence stops cameras in time
                log.warning("%s: lease round failed (%s)", self.worker, exc or type(exc).__name__)
            first = False
            try:
                await asyncio.wait_for(self._stopping.wait(), self.config.renew_s)
            except asyncio.TimeoutError:
                pass
        await self._leave()

    async def _round(self, claim: bool) -> None:
        await self._store.announce()
        for lease in self.book.leases():
            sent = time.monotonic()
            if sent - lease.renewed_at >= self.config.give_up_s:
                continue  # too late: expire() below drops it, whatever the bucket says
            revision = await self._store.renew(lease.source, lease.revision)
            if revision is None:
                log.warning("%s: lost the lease of %s", self.worker, lease.source)
                self.book.drop(lease.source)
            else:
                self.book.record(lease.source, revision, sent)
        for camera in self.book.expire():
            log.warning("%s: gave up %s: no renewal within %.1f s", self.worker, camera, self.config.give_up_s)
        workers = await self._store.live_workers() | {self.worker}
        share = fair_share(len(self.cameras), len(workers))
        rank = {camera: i for i, camera in enumerate(_order(self.worker, self.cameras))}
        held = sorted(self.book.held(), key=rank.__getitem__)
        self.book.set_excess(frozenset(held[share:]))
        if claim and len(held) < share:
            await self._claim(share - len(held), held)

    async def _claim(self, wanted: int, held: list[str]) -> None:
        taken = await self._store.holders()
        for camera in _order(self.worker, self.cameras):
            if wanted == 0:
                break
            if camera in held or camera in taken:
                continue
            sent = time.monotonic()
            revision = await self._store.claim(camera)
            if revision is not None:
                self.book.record(camera, revision, sent)
                wanted -= 1

    async def _release(self, camera: str, revision: int) -> None:
        try:
            await self._store.release(camera, revision)
        except _ENGINE_ERRORS as exc:
            log.warning("%s: could not release %s (%s); its lease ages out", self.worker, camera, exc or type(exc).__name__)

    async def _leave(self) -> None:
        try:
            for lease in self.book.leases():
                self.book.drop(lease.source)
                await self._store.release(lease.source, lease.revision)
            await self._store.retire()
        except _ENGINE_ERRORS as exc:
            log.warning("%s: could not hand back its leases (%s); they age out", self.worker, exc or type(exc).__name__)
