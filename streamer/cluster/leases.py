"""Camera leases and worker heartbeats in two JetStream key-value buckets (nats-py, asyncio).

Exports :class:`LeaseStore`.

Both buckets keep one revision per key (history 1) and age every key out after
``lease_timeout_s`` (the bucket's ``max_age``; per-key TTLs need a newer server than Debian's
2.9). A lease is the key ``<camera>`` in the leases bucket, its value the worker's name:
claiming is ``create`` (refused while the key exists), renewing is ``update(last=revision)``
(refused once anyone else wrote the key, or it aged out), releasing is a ``delete`` on the same
revision. A worker is alive while its key in the workers bucket is younger than the timeout.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

from streamer.cluster.cluster_config import ClusterConfig

__all__ = ["LeaseStore"]

_REFUSED = (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError)


async def _bucket(js: JetStreamContext, name: str, config: ClusterConfig, replicas: int) -> KeyValue:
    """The bucket ``name``, created if missing; an existing one must age keys out as configured."""
    try:
        kv = await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=name, history=1, ttl=config.lease_timeout_s,
                                                        replicas=replicas))
    info = await js.stream_info(f"KV_{name}")
    if info.config.max_age != config.lease_timeout_s or info.config.max_msgs_per_subject != 1:
        raise ValueError(f"bucket {name}: keys age out after {info.config.max_age} s with history "
                         f"{info.config.max_msgs_per_subject}, but cluster.lease_timeout_s is "
                         f"{config.lease_timeout_s:g} with history 1 (delete the bucket or change the setting)")
    return kv


class LeaseStore:
    """The leases and heartbeats of one worker, named ``worker``. Open with :meth:`open`."""

    def __init__(self, leases: KeyValue, workers: KeyValue, worker: str):
        self._leases, self._workers, self.worker = leases, workers, worker

    @classmethod
    async def open(cls, js: JetStreamContext, config: ClusterConfig, worker: str, replicas: int = 1) -> LeaseStore:
        """Both buckets of ``config`` (created when missing, with ``replicas`` copies; ``ValueError``
        if one ages keys out differently, which would break the give-up margin)."""
        leases = await _bucket(js, config.leases_bucket, config, replicas)
        return cls(leases, await _bucket(js, config.workers_bucket, config, replicas), worker)

    async def claim(self, camera: str) -> int | None:
        """Take ``camera`` if nobody holds it: its lease's revision, or None when held elsewhere."""
        try:
            return await self._leases.create(camera, self.worker.encode())
        except _REFUSED:
            return None

    async def renew(self, camera: str, revision: int) -> int | None:
        """Extend the lease of ``camera`` held at ``revision``: the new revision, or None when the
        lease is gone (aged out, released or claimed by another worker since)."""
        try:
            return await self._leases.update(camera, self.worker.encode(), last=revision)
        except _REFUSED:
            return None

    async def release(self, camera: str, revision: int) -> None:
        """Let ``camera`` go, unless its lease changed hands since ``revision`` (then nothing)."""
        try:
            await self._leases.delete(camera, last=revision)
        except (nats.js.errors.APIError, *_REFUSED):
            pass  # no longer ours: nothing to release

    async def holders(self) -> dict[str, str]:
        """Every camera leased now, with its worker's name."""
        return await self._entries(self._leases)

    async def announce(self) -> None:
        """This worker is alive (its heartbeat key, renewed with each call)."""
        await self._workers.put(self.worker, self.worker.encode())

    async def retire(self) -> None:
        """This worker is leaving: its heartbeat key goes at once, not after the timeout."""
        await self._workers.delete(self.worker)

    async def live_workers(self) -> set[str]:
        """Names of the workers whose heartbeat is younger than the lease timeout (one request)."""
        try:
            return set(await self._workers.keys())
        except nats.js.errors.NoKeysError:
            return set()

    @staticmethod
    async def _entries(kv: KeyValue) -> dict[str, str]:
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return {}
        out = {}
        for key in keys:
            try:
                out[key] = (await kv.get(key)).value.decode()
            except nats.js.errors.KeyNotFoundError:
                continue  # aged out or deleted meanwhile
        return out
