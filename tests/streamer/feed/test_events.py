"""The stats event: decode economy beside what uniform decoding would have spent."""

import json
from pathlib import Path

import pytest

from streamer.feed.events import stats_event, uniform_decodes
from pipelines.core.selective import PipelineStats

SCHEMA = Path(__file__).resolve().parents[3] / "streamer" / "feed" / "schemas" / "stats.json"


def test_uniform_decodes_counts_the_start_and_one_per_period():
    assert uniform_decodes(0.0) == 1
    assert uniform_decodes(39.5) == 40
    assert uniform_decodes(40.0) == 41
    assert uniform_decodes(40.0, rate_hz=0.5) == 21


def test_the_stats_event_carries_the_decode_economy_and_follows_the_schema():
    stats = PipelineStats(frames=160, clips=79, decodes=5, first_t=0.0, last_t=39.75)
    stats.step_ms.extend([10.0] * 90 + [30.0] * 10)
    stats.decode_ms.extend([0.3] * 5)
    event = stats_event("demo", stats, dropped_frames=2, wall_s=4.0, wall_time=1_800_000_000.0)
    assert event["type"] == "stats" and event["v"] == 1 and "seq" not in event
    assert event["decodes"] == 5 and event["clips"] == 79 and event["uniform_1hz_decodes"] == 40
    assert event["decode_rate_hz"] == pytest.approx(5 / 39.75, abs=1e-4)
    assert event["fps"] == 40.0 and event["dropped_frames"] == 2 and event["t"] == 39.75
    assert event["latency_ms"]["p50"] == 10.0 and event["latency_ms"]["p95"] == 30.0
    assert event["latency_ms"]["decode"]["p50"] == 0.3
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(event, json.loads(SCHEMA.read_text()))


def test_a_stats_event_before_any_frame_is_all_zeros():
    event = stats_event("cam0", PipelineStats())
    assert event["decodes"] == 0 and event["uniform_1hz_decodes"] == 0 and event["decode_rate_hz"] == 0.0
