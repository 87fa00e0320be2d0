"""The lease keeper against a real nats-server: a lone worker takes every camera, a second one
gets its fair share once the first releases its excess, a stopped keeper hands its cameras back
at once, and an engine that goes away closes the publish fence."""

from __future__ import annotations

import contextlib

import pytest

from natskit import nats_server  # noqa: F401  (fixture)
from streamer.cluster.cluster_config import ClusterConfig
from streamer.cluster.keeper import LeaseKeeper
from streamer.feed.bus_config import BusConfig
from streamer.feed.nats_link import NatsLink
from workerkit import wait_for

CAMERAS = ("cam0", "cam1", "cam2", "cam3")


def _config(worker: str) -> ClusterConfig:
    return ClusterConfig(lease_timeout_s=1.5, worker=worker)


@contextlib.contextmanager
def _keeper(url: str, worker: str, cameras=CAMERAS):
    """A started keeper over its own link; stopped and closed afterwards."""
    link = NatsLink(BusConfig(url=url), f"test {worker}").start()
    keeper = LeaseKeeper(link, cameras, _config(worker))
    try:
        yield keeper.start()
    finally:
        keeper.stop()
        link.close()


def _release_excess(keeper: LeaseKeeper) -> None:
    """What the run loop does at a clip boundary."""
    for camera in keeper.excess():
        keeper.release(camera)


def test_workers_split_the_cameras_fairly_and_a_stopped_one_hands_back_at_once(nats_server):
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(_keeper(nats_server.url, "wa"))
        wait_for(lambda: a.held() == set(CAMERAS), "a lone worker takes every camera")
        b = stack.enter_context(_keeper(nats_server.url, "wb"))
        wait_for(lambda: len(a.excess()) == 2, "the first worker sees the second and marks two cameras as excess")
        assert a.held() == set(CAMERAS)  # nothing goes before the run loop lets it go
        _release_excess(a)
        wait_for(lambda: len(b.held()) == 2, "the second worker claims the released cameras")
        assert a.held() | b.held() == set(CAMERAS) and not a.held() & b.held()
        assert a.excess() == b.excess() == frozenset()
        a.stop()  # its leases are deleted, not left to age out
        wait_for(lambda: b.held() == set(CAMERAS), "the remaining worker takes every camera")


def test_a_keeper_that_cannot_renew_closes_the_fence(nats_server):
    with _keeper(nats_server.url, "wa", CAMERAS[:1]) as keeper:
        wait_for(lambda: keeper.fresh("cam0"), "the keeper claims cam0")
        nats_server.kill()
        wait_for(lambda: not keeper.fresh("cam0"), "the fence closes without the engine")
        assert keeper.held() == frozenset()


def test_a_worker_started_before_its_engine_takes_cameras_once_it_answers(tmp_path):
    from natskit import NatsServer

    server = NatsServer(tmp_path / "nats")
    link = NatsLink(BusConfig(url=server.url, reconnect_wait_s=0.2), "test").start()
    keeper = LeaseKeeper(link, CAMERAS, _config("wa")).start(timeout=0.2)  # no engine: it waits in the background
    try:
        assert keeper.held() == frozenset()
        server.start()
        wait_for(lambda: keeper.held() == set(CAMERAS), "the keeper takes every camera once the engine answers")
    finally:
        keeper.stop()
        link.close()
        server.stop()


def test_buckets_that_age_keys_differently_are_one_error_naming_them(nats_server):
    with _keeper(nats_server.url, "wa"):
        link = NatsLink(BusConfig(url=nats_server.url), "test").start()
        try:
            with pytest.raises(ValueError, match=r"^event engine .*: bucket jepa_leases: keys age out after 1.5 s"):
                LeaseKeeper(link, CAMERAS, ClusterConfig(lease_timeout_s=3, worker="wb")).start()
        finally:
            link.close()


def test_the_fence_signs_what_it_publishes_and_holds_back_a_camera_it_does_not_hold(nats_server):
    from pipelines.worker import LeaseFence
    from streamer.capture.status import SourceState, SourceStatus
    from streamer.feed.events import status_event

    published = []
    with _keeper(nats_server.url, "wa", CAMERAS[:1]) as keeper:
        fence = LeaseFence(keeper, ["cam0", "cam1"], lambda e: published.append(e) or e)
        caption = {"v": 1, "type": "caption", "source": "cam0", "text": "x"}
        assert fence.publish(caption) is None and fence.fenced == 1  # not claimed yet
        wait_for(lambda: keeper.fresh("cam0"), "the keeper claims cam0")
        assert fence.publish(caption)["worker"] == "wa"
        assert fence.publish({**caption, "source": "cam1"}) is None  # a camera of the site it does not hold
        assert fence.publish(status_event(SourceStatus("cam1", SourceState.ENDED, "x")))["worker"] == "wa"  # status always goes
        assert fence.publish({**caption, "source": "other"}) is not None  # not a camera of the site: not fenced
        nats_server.kill()
        wait_for(lambda: fence.publish(caption) is None, "the fence closes without the engine")
    assert [e["source"] for e in published if e["type"] == "caption"][:1] == ["cam0"]
    assert fence.fenced >= 3
