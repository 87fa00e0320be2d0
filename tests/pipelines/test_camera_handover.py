"""A worker's camera hand-over against real leases: what the run analyses follows what it holds."""

from __future__ import annotations

import contextlib

import pytest

from natskit import nats_binary, nats_server  # noqa: F401  (fixture)
from pipelines.core.clips import ClipConfig
from pipelines.core.drift import DriftConfig
from pipelines.core.observers import RunView
from pipelines.core.selective import SelectivePipeline
from pipelines.worker import CameraHandover
from streamer.capture.multicapture import MultiCapture
from streamer.capture.source_spec import make_spec
from streamer.cluster.cluster_config import ClusterConfig
from streamer.cluster.keeper import LeaseKeeper
from streamer.feed.bus_config import BusConfig
from streamer.feed.nats_link import NatsLink
from workerkit import CAMERAS, wait_for, write_cameras

pytestmark = pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")


@contextlib.contextmanager
def _keeper(url: str, worker: str):
    link = NatsLink(BusConfig(url=url), f"test {worker}").start()
    keeper = LeaseKeeper(link, CAMERAS, ClusterConfig(lease_timeout_s=1.5, worker=worker))
    try:
        yield keeper.start()
    finally:
        keeper.stop()
        link.close()


def test_cameras_held_beyond_the_share_that_the_run_never_started_are_let_go_at_once(nats_server, photos, lite_models,
                                                                                      tmp_path):
    # A worker whose keeper claimed every camera before it saw the others' heartbeats (its run
    # loop still loading models) holds cameras beyond its fair share that it never analysed: no
    # clip boundary will ever come for them, so the hand-over lets them go at its next step, and
    # the other worker takes them.
    specs = {cid: make_spec(cid, str(path)) for cid, path in zip(CAMERAS, write_cameras(tmp_path, photos, shots=1))}
    published: list[dict] = []
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(_keeper(nats_server.url, "wa"))
        wait_for(lambda: a.held() == set(CAMERAS), "a lone worker takes every camera")
        b = stack.enter_context(_keeper(nats_server.url, "wb"))
        wait_for(lambda: len(a.excess()) == 2, "the first worker sees the second and marks two cameras as excess")
        excess = a.excess()
        capture = stack.enter_context(MultiCapture([], dynamic=True))
        run = RunView(capture, {}, [])
        handover = CameraHandover(a, specs, lambda cid: SelectivePipeline(cid, lite_models, ClipConfig(), DriftConfig()),
                                  published.append, release_after_s=3600.0)
        handover.on_step(run)

        assert a.held() == set(CAMERAS) - excess  # let go at once, not after release_after_s
        assert set(capture.active) == set(run.pipelines) == a.held()  # the run analyses what it keeps
        assert sorted(e["source"] for e in published if e["state"] == "assigned") == sorted(a.held())
        wait_for(lambda: b.held() == excess, "the second worker claims the cameras let go")
        handover.close()
