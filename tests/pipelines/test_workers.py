"""Workers sharing cameras over a real nats-server (``jepa-stream run --bus`` processes).

Failover: two workers split four file cameras; one is SIGKILLed and the other analyses its
cameras again within 15 s. Lease safety: a worker SIGSTOPped past its lease and SIGCONTed
publishes nothing for the cameras it lost, and over the whole run no two workers publish
captions for one camera at the same time (checked from the events' ``worker`` field).
"""

from __future__ import annotations

import signal
import time

import pytest

from natskit import nats_server  # noqa: F401  (fixture)
from testlimits import TIMEOUT_S
from workerkit import (CAMERAS, assert_one_worker_per_camera, first_caption_after, running_workers, split_evenly,
                       wait_for, write_cameras)

#: Short leases keep the test short; the failover bound (15 s) is the issue's, for the default 10 s.
LEASE_S = 4.0
FAILOVER_S = 15.0


@pytest.fixture(scope="module")
def cameras(tmp_path_factory, photos):
    return write_cameras(tmp_path_factory.mktemp("cams"), photos)


def test_a_killed_workers_cameras_are_analysed_again_by_the_other_within_15_s(nats_server, cameras, tmp_path):
    with running_workers(nats_server.url, tmp_path, cameras, "wa", "wb", lease_s=LEASE_S) as (a, b):
        wait_for(lambda: split_evenly(a, b), "two workers split four cameras two and two")
        lost = b.held()
        killed_at = time.time()
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(TIMEOUT_S)
        resumed = wait_for(lambda: all(first_caption_after(a, c, killed_at) for c in lost) and
                        [first_caption_after(a, c, killed_at) for c in lost], f"wa analyses {sorted(lost)} again")
        assert max(resumed) - killed_at <= FAILOVER_S, f"failover took {max(resumed) - killed_at:.1f} s"
        assert a.held() == set(CAMERAS)
        handed = [e for e in a.events() if e["type"] == "status" and e["state"] == "assigned" and e["wall_time"] > killed_at]
        assert {e["source"] for e in handed} == lost and {e["worker"] for e in handed} == {"wa"}
    assert_one_worker_per_camera(a.events() + b.events())


def test_a_paused_worker_publishes_nothing_for_the_cameras_it_lost(nats_server, cameras, tmp_path):
    with running_workers(nats_server.url, tmp_path, cameras, "wa", "wb", lease_s=LEASE_S) as (a, b):
        wait_for(lambda: split_evenly(a, b), "two workers split four cameras two and two")
        paused = b.held()
        b.proc.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        wait_for(lambda: a.held() == set(CAMERAS), "wa takes the paused worker's cameras")
        wait_for(lambda: all(first_caption_after(a, c, stopped_at) for c in paused), "wa captions them")
        b.proc.send_signal(signal.SIGCONT)
        continued_at = time.time()
        lost = wait_for(lambda: [e for e in b.events() if e["type"] == "status" and e["state"] == "released"
                              and "lease lost" in e["detail"]], "wb notices it lost its leases")
        assert {e["source"] for e in lost} == paused
        wait_for(lambda: split_evenly(a, b), "the two workers share the cameras fairly again")
        late = [e for e in b.events() if e["type"] == "caption" and e["source"] in paused
                and stopped_at < e["wall_time"] < lost[0]["wall_time"]]
        assert late == [], f"wb published for cameras it had lost: {late}"
        assert continued_at < lost[0]["wall_time"]
    assert_one_worker_per_camera(a.events() + b.events())
