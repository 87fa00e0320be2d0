"""The Prometheus collector of a run, on constructed state: names, labels, values, histogram."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamer.feed.metrics import FeedStats, HistogramCounts, RunCollector, SourceMetrics, metrics_route


def source(frames_in=10, analysed=8, dropped=2, **overrides) -> SourceMetrics:
    values = dict(frames_in=frames_in, frames_analysed=analysed, frames_dropped=dropped, clips=5,
                  decodes={"start": 1, "change": 3, "heartbeat": 0}, drift=0.42, threshold=1.75, reconnects=2,
                  connections=3, step_seconds=HistogramCounts((0.01, 0.1), (1, 4, 5), 0.35))
    return SourceMetrics(**{**values, **overrides})


def samples(collector: RunCollector) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_source_and_the_feed_become_labelled_samples():
    feed = FeedStats(clients=3, lagging=1, sent={"caption": 7, "embedding": 40}, replayed=5, connections=4)
    got = samples(RunCollector(lambda: {"cam0": source(), "door": source(frames_in=1, analysed=1, dropped=0)},
                               lambda: feed))
    assert got[("jepa_stream_frames_total", (("source", "cam0"), ("stage", "in")))] == 10
    assert got[("jepa_stream_frames_total", (("source", "cam0"), ("stage", "analysed")))] == 8
    assert got[("jepa_stream_frames_total", (("source", "cam0"), ("stage", "dropped")))] == 2
    assert got[("jepa_stream_frames_total", (("source", "door"), ("stage", "in")))] == 1
    assert got[("jepa_stream_decodes_total", (("reason", "change"), ("source", "cam0")))] == 3
    assert got[("jepa_stream_decodes_total", (("reason", "heartbeat"), ("source", "door")))] == 0
    assert got[("jepa_stream_drift", (("source", "cam0"),))] == 0.42
    assert got[("jepa_stream_drift_threshold", (("source", "cam0"),))] == 1.75
    assert got[("jepa_stream_reconnects_total", (("source", "cam0"),))] == 2
    assert got[("jepa_stream_source_connections_total", (("source", "cam0"),))] == 3
    assert got[("jepa_stream_clips_total", (("source", "cam0"),))] == 5
    # cumulative buckets as given, +Inf = count
    assert got[("jepa_stream_step_seconds_bucket", (("le", "0.01"), ("source", "cam0")))] == 1
    assert got[("jepa_stream_step_seconds_bucket", (("le", "0.1"), ("source", "cam0")))] == 4
    assert got[("jepa_stream_step_seconds_bucket", (("le", "+Inf"), ("source", "cam0")))] == 5
    assert got[("jepa_stream_step_seconds_count", (("source", "cam0"),))] == 5
    assert got[("jepa_stream_step_seconds_sum", (("source", "cam0"),))] == 0.35
    assert got[("jepa_stream_feed_subscribers", ())] == 3
    assert got[("jepa_stream_feed_lagging_clients", ())] == 1
    assert got[("jepa_stream_feed_events_sent_total", (("type", "caption"),))] == 7
    assert got[("jepa_stream_feed_events_sent_total", (("type", "status"),))] == 0  # every type, zeros too
    assert got[("jepa_stream_feed_events_replayed_total", ())] == 5
    assert got[("jepa_stream_feed_connections_total", ())] == 4


def test_the_state_is_read_at_each_scrape_not_at_registration():
    state = {"analysed": 1}
    route = metrics_route(RunCollector(lambda: {"cam0": source(analysed=state["analysed"])}, FeedStats))
    first = route.handler("/metrics", {})
    state["analysed"] = 99
    second = route.handler("/metrics", {})
    assert b'jepa_stream_frames_total{source="cam0",stage="analysed"} 1.0' in first.body
    assert b'jepa_stream_frames_total{source="cam0",stage="analysed"} 99.0' in second.body
    assert first.content_type.startswith("text/plain; version=0.0.4")
    assert not route.public  # behind the feed's token


def test_two_runs_in_one_process_keep_their_own_registries():
    a = metrics_route(RunCollector(lambda: {"a": source()}, FeedStats)).handler("/metrics", {}).body
    b = metrics_route(RunCollector(lambda: {"b": source()}, FeedStats)).handler("/metrics", {}).body
    assert b'source="a"' in a and b'source="b"' not in a
    assert b'source="b"' in b and b'source="a"' not in b
