"""The lease keeper: one thread per worker that holds its fair share of cameras.

Exports :class:`LeaseKeeper` and :func:`default_worker_name`.

Every ``renew_s`` (a third of the lease timeout) the keeper does one round, a task on the event
loop of the worker's :class:`~streamer.feed.nats_link.NatsLink` (:meth:`LeaseKeeper._round`):

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
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Sequence

import nats.errors
import nats.js.errors

from streamer.cluster.book import Lease, LeaseBook, fair_share
from streamer.cluster.cluster_config import ClusterConfig
from streamer.cluster.leases import LeaseStore
from streamer.feed.nats_link import NatsLink

__all__ = ["LeaseKeeper", "default_worker_name"]

log = logging.getLogger(__name__)

_ENGINE_ERRORS = (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError, OSError)
#: Seconds :meth:`LeaseKeeper.start` waits for the engine and the buckets by default.
CONNECT_TIMEOUT_S = 10.0


def default_worker_name() -> str:
    """``<host>-<pid>``, with characters a bucket key refuses replaced by ``_``."""
    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname())[:40] or "worker"
    return f"{host}-{os.getpid()}"


def _order(worker: str, cameras: Sequence[str]) -> list[str]:
    """``cameras`` in this worker's preference order (rendezvous hashing: each worker its own)."""
    return sorted(cameras, key=lambda c: hashlib.sha1(f"{worker}/{c}".encode()).digest())


class LeaseKeeper:
    """Holds a fair share of ``cameras`` for the worker ``config.worker`` over ``link``.

    Its rounds run as one task on the link's event loop. :meth:`start` begins them (an engine
    that refuses the buckets is a ``ValueError`` naming them; one that does not answer is waited
    for); :meth:`stop` releases every lease and the heartbeat so others take over at once. The caller
    owns ``link`` and closes it after :meth:`stop`.
    """

    def __init__(self, link: NatsLink, cameras: Sequence[str], config: ClusterConfig, *, replicas: int = 1):
        self.link, self.cameras, self.config, self._replicas = link, tuple(cameras), config, replicas
        self.worker = config.worker or default_worker_name()
        self.book = LeaseBook(config.give_up_s)
        self._stopping = asyncio.Event()  # bound to the link's loop at its first use there
        self._task: concurrent.futures.Future | None = None
        self._opened: concurrent.futures.Future = concurrent.futures.Future()  # the buckets, or why not
        self._waiting = True  # start() still waits for _opened

    def start(self, timeout: float = CONNECT_TIMEOUT_S) -> LeaseKeeper:
        """Begin the rounds. Waits up to ``timeout`` s for the buckets: an engine that does not
        answer by then is waited for in the background (no camera is held meanwhile); buckets the
        engine refuses, or that age keys out differently, are a ``ValueError`` naming them."""
        self._task = self.link.submit(self._keep())
        try:
            self._opened.result(timeout)
        except concurrent.futures.TimeoutError:
            self._waiting = False
            log.warning("%s: %s does not answer yet; no camera is analysed until it does", self.worker, self.link.label)
        except ValueError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Release every lease and the heartbeat (best effort, bounded), end the rounds. Idempotent."""
        if self._task is None:
            return
        with contextlib.suppress(RuntimeError):  # the link's loop has ended: leases age out
            self.link.loop.call_soon_threadsafe(self._stopping.set)
        with contextlib.suppress(concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            self._task.result(CONNECT_TIMEOUT_S)
        self._task = None

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
        if lease is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the link's loop has ended: the lease ages out
                self.link.submit(self._release(lease.source, lease.revision))

    async def _open(self) -> bool:
        """Open the buckets once (a refusal ends the keeper: ``start`` raises it); False: try again."""
        js = self.link.client.jetstream(timeout=self.config.renew_s / 2)
        try:
            self._store = await LeaseStore.open(js, self.config, self.worker, self._replicas)
        except _ENGINE_ERRORS as exc:
            if self.link.connected and isinstance(exc, nats.js.errors.APIError):
                self._refuse(f"{self.link.label}: cannot open the lease buckets ({exc})")
            return False
        except ValueError as exc:
            self._refuse(f"{self.link.label}: {exc}")
            return False
        self._opened.set_result(True)
        return True

    def _refuse(self, message: str) -> None:
        """The buckets are refused: end the rounds, and say why to :meth:`start`, or to the log
        when it has stopped waiting (no camera is analysed then)."""
        self._opened.set_exception(ValueError(message))
        if not self._waiting:
            log.error("%s: %s; no camera is analysed", self.worker, message)
        self._stopping.set()

    async def _keep(self) -> None:
        opened, rounds, failing = False, 0, False
        while not self._stopping.is_set():
            try:
                if not opened:
                    opened = await self._open()
                if opened:
                    await self._round(claim=rounds > 0)
                    rounds += 1
                    if failing:
                        log.warning("%s: lease rounds work again", self.worker)
                    failing = False
            except _ENGINE_ERRORS as exc:  # the engine is away: leases age; the fence stops cameras in time
                if not failing:  # once per outage, not every round
                    log.warning("%s: lease round failed (%s); cameras not renewed within %.1f s stop",
                                self.worker, exc or type(exc).__name__, self.config.give_up_s)
                failing = True
            try:
                await asyncio.wait_for(self._stopping.wait(), self.config.renew_s)
            except asyncio.TimeoutError:
                pass
        if opened:
            await self._leave()

    async def _round(self, claim: bool) -> None:
        await self._store.announce()
        await asyncio.gather(*(self._renew(lease) for lease in self.book.leases()))
        for camera in self.book.expire():
            log.warning("%s: gave up %s: no renewal within %.1f s", self.worker, camera, self.config.give_up_s)
        workers = await self._store.live_workers() | {self.worker}
        share = fair_share(len(self.cameras), len(workers))
        rank = {camera: i for i, camera in enumerate(_order(self.worker, self.cameras))}
        held = sorted(self.book.held(), key=rank.__getitem__)
        self.book.set_excess(frozenset(held[share:]))
        if claim and len(held) < share:
            await self._claim(share - len(held), held)

    async def _renew(self, lease: Lease) -> None:
        sent = time.monotonic()
        if sent - lease.renewed_at >= self.config.give_up_s:
            return  # too late: expire() drops it, whatever the bucket says
        revision = await self._store.renew(lease.source, lease.revision)
        if revision is None:
            log.warning("%s: lost the lease of %s", self.worker, lease.source)
            self.book.drop(lease.source)
        elif not self.book.renewed(lease, revision, sent):  # released by the run loop meanwhile
            await self._store.release(lease.source, revision)

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
