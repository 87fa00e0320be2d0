"""Leases against a real nats-server: claim, renew, release and ageing in a KV bucket, the
publish fence's give-up age, and the settings' checks."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from natskit import nats_server  # noqa: F401  (fixture)
from streamer.cluster.book import LeaseBook, fair_share
from streamer.cluster.cluster_config import ClusterConfig
from streamer.cluster.leases import LeaseStore
from testlimits import TIMEOUT_S

CONFIG = ClusterConfig(lease_timeout_s=1.5, leases_bucket="t_leases", workers_bucket="t_workers")


async def _stores(url: str, *names: str, config: ClusterConfig = CONFIG):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=5)
    return nc, [await LeaseStore.open(js, config, name) for name in names]


async def _until(check, what: str):
    """Await ``check()`` until it is truthy, within the suite's timeout."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {TIMEOUT_S:g} s: {what}")


def test_a_lease_is_exclusive_renewed_by_its_revision_and_released(nats_server):
    async def main():
        nc, (a, b) = await _stores(nats_server.url, "wa", "wb")
        try:
            first = await a.claim("cam0")
            assert first is not None
            assert await b.claim("cam0") is None  # held: create is refused
            second = await a.renew("cam0", first)
            assert second is not None and second > first
            assert await b.renew("cam0", first) is None  # a stale revision renews nothing
            assert await a.renew("cam0", first) is None
            assert (await b.holders()) == {"cam0": "wa"}
            await a.release("cam0", first)  # an old revision releases nothing
            assert await b.claim("cam0") is None
            await a.release("cam0", second)
            assert await b.claim("cam0") is not None  # released: free again at once
        finally:
            await nc.close()

    asyncio.run(main())


def test_an_unrenewed_lease_ages_out_and_its_old_revision_is_refused(nats_server):
    async def main():
        nc, (a, b) = await _stores(nats_server.url, "wa", "wb")
        try:
            revision = await a.claim("cam1")
            assert await b.claim("cam1") is None
            assert await _until(lambda: b.claim("cam1"), "cam1's lease ages out and b claims it")
            assert await a.renew("cam1", revision) is None  # the paused holder cannot take it back
            assert (await a.holders()) == {"cam1": "wb"}
        finally:
            await nc.close()

    asyncio.run(main())


def test_heartbeats_count_live_workers_until_they_age_out_or_retire(nats_server):
    async def main():
        nc, (a, b) = await _stores(nats_server.url, "wa", "wb")
        try:
            await a.announce()
            await b.announce()
            assert await a.live_workers() == {"wa", "wb"}
            await b.retire()
            assert await a.live_workers() == {"wa"}
            assert await _until(lambda: _empty(a), "wa's heartbeat ages out")
        finally:
            await nc.close()

    async def _empty(store):
        return not await store.live_workers()

    asyncio.run(main())


def test_a_bucket_that_ages_keys_differently_is_refused_by_name(nats_server):
    async def main():
        nc, _ = await _stores(nats_server.url, "wa")
        try:
            with pytest.raises(ValueError, match=r"bucket t_leases: keys age out after 1.5 s .* cluster.lease_timeout_s is 4 "):
                await _stores(nats_server.url, "wb", config=ClusterConfig(lease_timeout_s=4, leases_bucket="t_leases",
                                                                          workers_bucket="t_workers"))
        finally:
            await nc.close()

    asyncio.run(main())


def test_the_fence_closes_at_two_thirds_of_the_timeout():
    now = [100.0]
    book = LeaseBook(ClusterConfig(lease_timeout_s=9).give_up_s, clock=lambda: now[0])
    book.record("cam0", 7, sent_at=100.0)
    now[0] = 105.9
    assert book.fresh("cam0") and book.held() == {"cam0"} and book.expire() == []
    now[0] = 106.0  # 6 s = 2/3 of 9 s: 3 s before the bucket could let anyone else claim it
    assert not book.fresh("cam0") and book.held() == frozenset()
    assert book.expire() == ["cam0"] and book.leases() == []


def test_excess_is_only_what_is_held_and_goes_with_the_lease():
    book = LeaseBook(5.0, clock=lambda: 0.0)
    book.record("cam0", 1, 0.0)
    book.record("cam1", 2, 0.0)
    book.set_excess(frozenset({"cam1", "cam9"}))
    assert book.excess() == {"cam1"}
    book.drop("cam1")
    assert book.excess() == frozenset() and book.held() == {"cam0"}


@pytest.mark.parametrize("cameras, workers, share", [(4, 2, 2), (5, 2, 3), (4, 3, 2), (4, 0, 4), (0, 2, 0)])
def test_fair_share_is_the_ceiling(cameras, workers, share):
    assert fair_share(cameras, workers) == share


@pytest.mark.parametrize("values, message", [
    ({"lease_timeout_s": 0.5}, r"^lease_timeout_s: must be a number within \[1, 600\] \(got 0.5\)$"),
    ({"lease_timeout_s": float("nan")}, r"^lease_timeout_s: must be a number within \[1, 600\] \(got nan\)$"),
    ({"leases_bucket": "a.b"}, r"leases_bucket: must be 1 to 64 letters, digits, _ or - \(got 'a.b'\)"),
    ({"workers_bucket": "jepa_leases"}, r"workers_bucket: must differ from leases_bucket"),
    ({"worker": "w 1"}, r"worker: must be 1 to 64 letters, digits or _=.- \(got 'w 1'\)"),
])
def test_bad_settings_name_the_key_and_value(values, message):
    with pytest.raises(ValueError, match=message):
        ClusterConfig(**values)
