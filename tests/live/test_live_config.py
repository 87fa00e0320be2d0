"""CaptureConfig: defaults, YAML mapping, per-source overrides, and errors naming the key."""

import random

import pytest

from streamer.worker import OverflowPolicy
from streamer.capture.capture_config import CaptureConfig, RtspTransport
from streamer.capture.reconnect import Backoff


def test_defaults_and_policy_by_liveness():
    config = CaptureConfig()
    assert config.rtsp_transport is RtspTransport.TCP and config.max_attempts == 0
    assert config.buffer_policy(live=True) is OverflowPolicy.DROP_OLDEST
    assert config.buffer_policy(live=False) is OverflowPolicy.WAIT
    assert CaptureConfig(realtime=True).buffer_policy(live=False) is OverflowPolicy.DROP_OLDEST
    assert CaptureConfig(policy=OverflowPolicy.WAIT).buffer_policy(live=True) is OverflowPolicy.WAIT


def test_mapping_with_per_source_overrides():
    config = CaptureConfig.from_mapping(
        {
            "buffer_size": 4,
            "policy": "auto",
            "backoff_max_s": 60,
            "sources": {"cam1": {"rtsp_transport": "udp", "stall_timeout_s": 30}},
        }
    )
    cam1, cam0 = config.for_source("cam1"), config.for_source("cam0")
    assert (cam0.buffer_size, cam0.rtsp_transport, cam0.stall_timeout_s) == (4, RtspTransport.TCP, 10.0)
    # An override starts from the section's values, not from the defaults.
    assert (cam1.buffer_size, cam1.rtsp_transport, cam1.stall_timeout_s, cam1.backoff_max_s) == (
        4,
        RtspTransport.UDP,
        30.0,
        60.0,
    )
    config.check_sources({"cam0", "cam1"})
    with pytest.raises(ValueError, match=r"capture.sources: no source with id 'cam1' \(sources: cam0\)"):
        config.check_sources({"cam0"})


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"bufer_size": 4}, "capture.bufer_size: unknown key"),
        ({"buffer_size": 0}, "capture.buffer_size: must be an integer within 1..128, got 0"),
        ({"buffer_size": 2.5}, "capture.buffer_size: expected int, got float 2.5"),
        ({"policy": "newest"}, "capture.policy: 'newest' is not one of: wait, drop_oldest"),
        ({"rtsp_transport": "quic"}, "capture.rtsp_transport: 'quic' is not one of: tcp, udp"),
        ({"realtime": "yes"}, "capture.realtime: expected bool, got str 'yes'"),
        ({"stall_timeout_s": 0}, "capture.stall_timeout_s: must be a number > 0"),
        ({"backoff_jitter": 1.0}, "capture.backoff_jitter: must be below 1"),
        ({"sources": {"cam0": {"backoff_initial_s": 100}}}, "capture.sources.cam0.backoff_max_s: must be at least"),
        ({"sources": {"cam0": {"nope": 1}}}, "capture.sources.cam0.nope: unknown key"),
        ({"sources": {"cam0": 3}}, "capture.sources.cam0: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(mapping, message):
    with pytest.raises(ValueError) as info:
        CaptureConfig.from_mapping(mapping)
    assert message in str(info.value)


def test_backoff_grows_to_the_cap_with_bounded_jitter():
    plain = Backoff(1.0, 2.0, 30.0, 0.0)
    assert [plain.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert plain.delay(10_000) == 30.0
    jittery = Backoff(1.0, 2.0, 30.0, 0.2, random.Random(7))
    third = [jittery.delay(3) for _ in range(200)]
    assert 4 * 0.8 <= min(third) < max(third) <= 4 * 1.2
    assert len(set(third)) > 100  # really random, so cameras do not retry in lockstep
    assert max(jittery.delay(50) for _ in range(200)) <= 30.0


def test_command_line_changes_reach_every_override():
    config = CaptureConfig.from_mapping({"realtime": True, "sources": {"cam1": {"buffer_size": 2}}})  # the CLI lays its flags over the section
    assert config.realtime and config.for_source("cam1").realtime and config.for_source("cam1").buffer_size == 2
    with pytest.raises(ValueError, match="buffer_size: must be an integer within 1..128"):
        CaptureConfig.from_mapping({"realtime": True, "sources": {"cam1": {"buffer_size": 0}}})
