"""Workers sharing cameras over a real nats-server (``jepa-stream run --bus`` processes).

Failover: two workers split four file cameras; one is SIGKILLed and the other analyses its
cameras again within 15 s. Lease safety: a worker SIGSTOPped past its lease and SIGCONTed
publishes nothing for the cameras it lost, and over the whole run no two workers publish
captions for one camera at the same time (checked from the events' ``worker`` field).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import jsonschema
import pytest

from natskit import nats_server  # noqa: F401  (fixture)
from streamer.feed.bus_config import BusConfig
from streamer.feed.protocol import load_schema
from testlimits import TIMEOUT_S
from workerkit import (CAMERAS, assert_one_worker_per_camera, first_caption_after, running_workers, split_evenly,
                       wait_for, write_cameras)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "streamer"))
from buskit import Gateway, Reader  # noqa: E402

#: Short leases keep the test short; the failover bound (15 s) is the issue's, for the default 10 s.
LEASE_S = 4.0
FAILOVER_S = 15.0


@pytest.fixture(scope="module")
def cameras(tmp_path_factory, photos):
    return write_cameras(tmp_path_factory.mktemp("cams"), photos)


def test_a_killed_workers_cameras_are_analysed_again_by_the_other_within_15_s(nats_server, cameras, tmp_path):
    gateway = Gateway(BusConfig(url=nats_server.url))
    reader = Reader(gateway.url, from_seq=0, types=("caption", "status"))
    try:
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
            wait_for(lambda: _handed_over(reader.messages, lost, killed_at), "the subscriber sees the hand-over")
    finally:
        reader.close()
        gateway.close()
    assert reader.seqs == list(range(1, len(reader.seqs) + 1)), "the subscriber's seqs: no gap, no duplicate"
    events = [m for m in reader.messages if m["type"] in ("caption", "status")]
    for event in events:  # the worker field and the assigned/released states are protocol v1
        jsonschema.validate(event, load_schema(event["type"]))
    for camera in lost:  # wb held it when it was killed, and wa took it next (wa may have held it first,
        # when it started before wb and gave it up to the fair share)
        assigned = [(m["wall_time"], m["worker"]) for m in events
                    if m["type"] == "status" and m["state"] == "assigned" and m["source"] == camera]
        before, after = [w for t, w in assigned if t <= killed_at], [w for t, w in assigned if t > killed_at]
        assert before[-1:] == ["wb"] and after[:1] == ["wa"], f"{camera}: assigned to {assigned}"
    assert {m["worker"] for m in events if m["type"] == "caption" and m["source"] in lost and m["wall_time"] > killed_at} == {"wa"}
    assert_one_worker_per_camera(events)
    assert_one_worker_per_camera(a.events() + b.events())


def _handed_over(messages: list[dict], cameras: set[str], after: float) -> bool:
    """Whether ``messages`` hold a caption by ``wa`` of each of ``cameras`` after ``after``."""
    seen = {m["source"] for m in list(messages) if m["type"] == "caption" and m["wall_time"] > after and m["worker"] == "wa"}
    return seen >= cameras


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
