"""The reconnecting wrapper against a real RTSP server that is stopped, restarted and frozen."""

import dataclasses
import logging
import os
import threading
import time

import jsonschema
import pytest

from netkit import free_port
from rtsp_kit import FAST, open_fds
from streamer.capture.thread import CaptureThread
from streamer.worker import OverflowPolicy
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.live import StreamSource
from streamer.feed.protocol import load_schema, prepare_event
from streamer.capture.reconnect import ReconnectingSource
from streamer.feed.events import status_event
from testlimits import TIMEOUT_S, wait_for

pytestmark = pytest.mark.timeout(TIMEOUT_S * 3)


class Rig:
    """A ReconnectingSource on a CaptureThread, as the multi-capture runs it, plus what it emitted."""

    def __init__(self, url, config=FAST):
        self.statuses: list[dict] = []
        self.frames: list[Frame] = []
        self.source = ReconnectingSource(
            "cam0",
            lambda: StreamSource(url, "cam0", sample_fps=5.0, max_side=96, probe_s=config.probe_s,
                                 open_timeout_s=config.open_timeout_s, read_timeout_s=config.read_timeout_s,
                                 stall_timeout_s=config.stall_timeout_s),
            config,
            on_status=lambda status: self.statuses.append(status_event(status)),
        )  # fmt: skip
        self.thread = CaptureThread(self.source, buffer_size=config.buffer_size, policy=OverflowPolicy.DROP_OLDEST)
        self.end: EndOfStream | None = None

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.source.cancel()
        self.thread.stop()

    def pump(self) -> list[Frame]:
        """Move every queued frame into ``frames``; return the new ones."""
        new = []
        while (item := self.thread.get(timeout=0)) is not None:
            if isinstance(item, EndOfStream):
                self.end = item
            else:
                new.append(item)
        self.frames += new
        return new

    def wait_frames(self, n: int, timeout: float = TIMEOUT_S / 4) -> None:
        goal = len(self.frames) + n
        wait_for(lambda: self.pump() is not None and len(self.frames) >= goal, f"{n} more frames", timeout)

    def wait_state(self, state: str, count: int, timeout: float = TIMEOUT_S / 4) -> dict:
        def seen():
            self.pump()
            matches = [s for s in self.statuses if s["state"] == state]
            return matches[count - 1] if len(matches) >= count else None

        return wait_for(seen, f"status {state!r} #{count}", timeout)


def assert_monotonic(frames: list[Frame]) -> None:
    pts, index = [f.pts for f in frames], [f.index for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts went backwards"
    assert all(b > a for a, b in zip(index, index[1:])), "index went backwards"


def assert_valid_status(event: dict) -> None:
    jsonschema.validate({**event, "seq": 1}, load_schema("status"))
    prepare_event(event, seq=1)  # what the event feed will do with it
    assert "\n" not in event["detail"]


def test_restart_reconnects_and_time_keeps_going(rtsp_server):
    with Rig(rtsp_server.url) as rig:
        rig.wait_state("connected", 1)
        rig.wait_frames(5)
        rtsp_server.stop()
        lost = rig.wait_state("disconnected", 1)
        retry = rig.wait_state("reconnecting", 1)
        outage_start = time.time()
        time.sleep(0.5)
        rtsp_server.start()
        rig.wait_state("connected", 2)
        rig.wait_frames(5)
    assert_monotonic(rig.frames)
    assert [s["state"] for s in rig.statuses[:3]] == ["connected", "disconnected", "reconnecting"]
    assert lost["detail"] == f"{rtsp_server.url}: stream ended"  # TCP connection closed by the server
    assert retry["attempt"] == 1 and 0 < retry["delay_s"] <= FAST.backoff_max_s
    assert retry["detail"].startswith(f"{rtsp_server.url}: stream ended (retrying in ")
    # Media time across the outage advances by at least the outage, as wall time does.
    before = [f for f in rig.frames if f.wall_time < outage_start][-1]
    after = [f for f in rig.frames if f.wall_time > outage_start][0]
    assert after.pts - before.pts >= 0.5
    # The first frame after the gap says so (the pipeline captions it with reason `resume`).
    assert after.resumed and not before.resumed
    assert sum(f.resumed for f in rig.frames) == 1
    for event in rig.statuses:
        assert_valid_status(event)


def test_twenty_outages_leak_no_threads_or_descriptors(rtsp_server):
    warm = StreamSource(rtsp_server.url, "warm", probe_s=FAST.probe_s)
    warm.open()  # let FFmpeg's one-time network setup happen before counting
    warm.close()
    threads, tasks, fds = threading.active_count(), len(os.listdir("/proc/self/task")), open_fds()
    with Rig(rtsp_server.url) as rig:
        rig.wait_frames(2)
        for cycle in range(1, 21):
            rtsp_server.stop(hard=cycle % 2 == 0)  # alternate a clean shutdown and a crash
            rig.wait_state("reconnecting", cycle)
            rtsp_server.start()
            rig.wait_state("connected", cycle + 1)
            rig.wait_frames(1)
        assert rig.source.connections == 21
    assert rig.end is None or rig.end.error is None
    assert_monotonic(rig.frames)
    assert all(0 < s["delay_s"] <= FAST.backoff_max_s for s in rig.statuses if s["state"] == "reconnecting")
    wait_for(lambda: threading.active_count() == threads, "capture thread to end", 5)
    wait_for(lambda: len(os.listdir("/proc/self/task")) <= tasks, "native decoder threads to end", 5)
    assert open_fds() <= fds


def test_unreachable_at_start_is_retried_with_a_one_line_message(rtsp_factory, caplog):
    server = rtsp_factory(start=False)
    caplog.set_level(logging.INFO, logger="streamer.capture.reconnect")
    with Rig(server.url) as rig:
        third = rig.wait_state("reconnecting", 3)
        server.start()
        rig.wait_state("connected", 1)
        rig.wait_frames(3)
    delays = [s["delay_s"] for s in rig.statuses if s["state"] == "reconnecting"]
    assert [s["attempt"] for s in rig.statuses if s["state"] == "reconnecting"] == list(range(1, len(delays) + 1))
    assert delays[0] <= FAST.backoff_initial_s * 1.2 and max(delays) <= FAST.backoff_max_s
    assert third["detail"] == f"cannot open {server.url}: connection refused (retrying in {third['delay_s']:.1f} s)"
    message = caplog.records[0].getMessage()
    assert message.startswith(f"cam0: cannot open {server.url}: connection refused (retrying in ")
    assert "\n" not in message and "disconnected" not in [s["state"] for s in rig.statuses]


def test_a_frozen_server_is_detected_as_a_stall_and_recovered(rtsp_server):
    config = dataclasses.replace(FAST, read_timeout_s=1.0, stall_timeout_s=1.0)
    with Rig(rtsp_server.url, config) as rig:
        rig.wait_frames(3)
        rtsp_server.pause()
        frozen_at = time.monotonic()
        lost = rig.wait_state("disconnected", 1)
        detected_after = time.monotonic() - frozen_at
        rtsp_server.resume()
        rig.wait_state("connected", 2)
        rig.wait_frames(3)
    assert lost["detail"] == f"{rtsp_server.url}: no data for 1 s"
    assert detected_after < 1.0 + 3.0  # the timeout plus what the socket had buffered
    assert_monotonic(rig.frames)


def test_a_camera_that_delivered_frames_is_retried_at_the_initial_delay_when_it_drops(rtsp_factory):
    server = rtsp_factory(start=False)
    config = dataclasses.replace(FAST, backoff_reset_s=CaptureConfig().backoff_reset_s)  # the default
    with Rig(server.url, config) as rig:
        rig.wait_state("reconnecting", 3)  # down for a while: the delay grew
        server.start()
        rig.wait_state("connected", 1)
        rig.wait_frames(2)
        retries_so_far = len([s for s in rig.statuses if s["state"] == "reconnecting"])
        server.stop()
        again = rig.wait_state("reconnecting", retries_so_far + 1)
    assert again["attempt"] == 1 and again["delay_s"] <= config.backoff_initial_s * (1 + config.backoff_jitter)


def test_gives_up_after_max_attempts(tmp_path):
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    with Rig(url, dataclasses.replace(FAST, max_attempts=3)) as rig:
        wait_for(lambda: rig.pump() is not None and rig.end, "the end marker", TIMEOUT_S / 4)
    assert rig.end.error == f"cam0: giving up after 3 failed attempts: cannot open {url}: connection refused"
    assert [s["attempt"] for s in rig.statuses] == [1, 2]


def test_cancel_interrupts_the_backoff_wait():
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    slow = dataclasses.replace(FAST, backoff_initial_s=30.0, backoff_max_s=30.0)
    rig = Rig(url, slow)
    with rig:
        rig.wait_state("reconnecting", 1)
        start = time.monotonic()
    assert time.monotonic() - start < 1.0
    assert not rig.thread.is_alive()


def test_an_unexpected_error_is_retried_not_fatal(caplog):
    class Flaky:
        label = "flaky://cam"
        source_id = "cam0"
        opened = 0

        def open(self):
            Flaky.opened += 1

        def frames(self):
            if Flaky.opened == 1:
                raise RuntimeError("decoder exploded\nsecond line")
            yield from ()

        def close(self):
            pass

    statuses = []
    source = ReconnectingSource("cam0", Flaky, dataclasses.replace(FAST, max_attempts=2), lambda s: statuses.append(status_event(s)))
    with pytest.raises(Exception, match="giving up after 2 failed attempts: flaky://cam: stream ended"):
        list(source.frames())
    first = [s for s in statuses if s["state"] == "disconnected"][0]
    assert first["detail"] == "flaky://cam: unexpected RuntimeError: decoder exploded"
    assert "Traceback" in caplog.text
