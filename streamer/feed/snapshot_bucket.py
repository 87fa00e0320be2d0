"""Caption snapshots in the engine's object store, so that every gateway can serve every snapshot.

Exports: ``SnapshotBucket``.

With ``--bus`` a worker still writes each snapshot to its own folder
(:class:`~streamer.console.snapshots.SnapshotStore`), and then puts the same JPEG in the site's
JetStream object store ``JEPA_<site>_snapshots`` under ``<source>/<name>.jpg``, the path the
caption event names. A gateway's ``/snapshots/`` route reads it from there (behind the feed's
token, like every route with data). The bucket's bounds are the snapshot settings': age
``feed.log.retention_max_age_s`` (a snapshot lives as long as its caption) and size
``feed.snapshots.retention_max_bytes``; the object store has no count bound, so
``retention_max_files`` applies to the worker's folder only. Its replicas are the stream's.

Puts never block the writer thread: each is handed to the link's loop; one that fails (the
engine is down) is counted in :attr:`SnapshotBucket.failed`, and the caption's snapshot is then
a 404 on gateways (clients show a placeholder), as for any snapshot that is gone.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from http import HTTPStatus

import nats.errors
import nats.js.errors
from nats.js.api import ObjectStoreConfig, StorageType

from streamer.console.console_config import SnapshotConfig
from streamer.feed.bus_config import BusConfig
from streamer.feed.http import HttpReply, HttpRoute
from streamer.feed.log_api import LogUnavailable
from streamer.feed.nats_link import NatsLink

__all__ = ["SnapshotBucket"]

logger = logging.getLogger(__name__)

_PATH = re.compile(r"/snapshots/([A-Za-z_][A-Za-z0-9_.\-]{0,63}/\d+\.jpg)")


class SnapshotBucket:
    """The site's snapshot bucket over ``link`` (created on first use with these bounds)."""

    def __init__(self, link: NatsLink, config: BusConfig, snapshots: SnapshotConfig,
                 max_age_s: float | None) -> None:
        self.link, self.config = link, config
        self.bucket = f"{config.stream}_snapshots"
        self._store_config = ObjectStoreConfig(
            ttl=max_age_s, max_bytes=snapshots.retention_max_bytes or -1, storage=StorageType.FILE,
            replicas=config.stream_replicas)
        self._store = None
        self.put_count = self.failed = 0
        self._pending: set[concurrent.futures.Future] = set()

    async def _bucket(self):
        if self._store is None:
            js = self.link.client.jetstream(timeout=self.config.ack_timeout_s)
            try:
                self._store = await js.object_store(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                self._store = await js.create_object_store(self.bucket, config=self._store_config)
        return self._store

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name`` (``<source>/<name>.jpg``) in the background; never blocks."""
        async def put() -> None:
            try:
                await (await self._bucket()).put(name, data)
                self.put_count += 1
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                self.failed += 1
                if self.failed == 1 or self.failed % 100 == 0:
                    logger.warning("snapshots: cannot put %s in %s (%s); %d failed so far", name, self.bucket,
                                   type(exc).__name__, self.failed)

        future = self.link.submit(put())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the puts under way; return how many are still not done."""
        _, not_done = concurrent.futures.wait(tuple(self._pending), timeout)
        return len(not_done)

    def read(self, url_path: str) -> bytes | None:
        """The JPEG at ``url_path`` (``/snapshots/<source>/<name>.jpg``), or None when it is not there."""
        match = _PATH.fullmatch(url_path)
        if match is None or not self.link.connected:  # never hold the feed's loop for an engine that is down
            return None

        async def get() -> bytes | None:
            try:
                return (await (await self._bucket()).get(match.group(1))).data
            except (nats.js.errors.ObjectNotFoundError, nats.js.errors.NotFoundError,
                    nats.js.errors.ObjectDeletedError):
                return None

        try:
            return self.link.call(get(), self.config.ack_timeout_s)
        except (LogUnavailable, nats.errors.Error):
            return None

    def route(self) -> HttpRoute:
        """``/snapshots/`` of a gateway, answered from the bucket (a 404 when the snapshot is not there)."""
        def handler(path: str, _query) -> HttpReply:
            data = self.read(path)
            if data is None:
                return HttpReply.text(HTTPStatus.NOT_FOUND, f"{path}: no such snapshot (expired, or the engine is down?)")
            return HttpReply(HTTPStatus.OK, data, "image/jpeg", (("Cache-Control", "private, max-age=86400, immutable"),))

        return HttpRoute("/snapshots/", handler)
