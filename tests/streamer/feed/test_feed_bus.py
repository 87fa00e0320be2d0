"""The event bus: seqs only grow, logged before broadcast, ephemeral events stay out of the log."""

from __future__ import annotations

import json
import threading

import pytest

from feedkit import Collect, caption, embedding, stats, status
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog


def test_seq_is_assigned_by_the_bus_and_returned(bus):
    event = caption(1) | {"seq": 999}
    sent = bus.publish(event)
    assert sent["seq"] == 1 and event["seq"] == 999, "the caller's dict is not modified"
    assert bus.publish(status())["seq"] == 2
    assert bus.last_seq == 2


def test_captions_and_status_are_in_the_log_before_any_sink_sees_them(bus):
    seen_in_log = Collect(lambda out: [e["seq"] for e in bus.log.read_after(out.seq - 1)])
    bus.add_sink(seen_in_log)
    bus.publish(caption(1))
    bus.publish(status())
    assert seen_in_log.events == [[1], [2]]


def test_stats_and_embeddings_are_ephemeral(bus):
    sink = Collect()
    bus.add_sink(sink)
    received = sink.events
    bus.publish(caption(1))
    sent_stats = bus.publish(stats())
    sent_embedding = bus.publish(embedding(dim=8))
    bus.publish(caption(2))
    assert "seq" not in sent_stats and "seq" not in sent_embedding
    assert sent_embedding["dim"] == 8 and "embedding" not in sent_embedding
    assert [(o.type.value, o.seq) for o in received] == [("caption", 1), ("stats", None), ("embedding", None),
                                                         ("caption", 2)]
    assert [e["seq"] for e in bus.log.read_after(0)] == [1, 2], "the logged stream has no gaps"


def test_a_bad_event_raises_and_uses_up_no_seq(bus):
    with pytest.raises(ValueError, match="missing field"):
        bus.publish({"v": 1, "type": "caption", "source": "cam0"})
    assert bus.publish(caption(1))["seq"] == 1


def test_several_publishing_threads_get_unique_growing_seqs_in_log_and_sink_order(bus):
    sink = Collect(lambda out: out.seq)
    bus.add_sink(sink)
    received = sink.events

    def pipeline(source):
        for i in range(50):
            bus.publish(caption(i, source=source))

    threads = [threading.Thread(target=pipeline, args=(f"cam{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert received == list(range(1, 201))
    assert [e["seq"] for e in bus.log.read_after(0, limit=1000)] == received
    assert bus.sources == ["cam0", "cam1", "cam2", "cam3"]


def test_a_new_bus_over_the_same_log_continues_the_seq(log_config):
    first = EventBus(EventLog(log_config))
    first.publish(caption(1, source="cam7"))
    first.publish(caption(2, source="cam7"))
    first.close()
    second = EventBus(EventLog(log_config))
    assert second.last_seq == 2 and "cam7" in second.sources
    assert second.publish(caption(3))["seq"] == 3
    second.close()


def test_add_sink_reports_the_last_seq_it_will_not_see(bus):
    bus.publish(caption(1))
    sink = Collect()
    assert bus.add_sink(sink) == 1
    bus.publish(caption(2))
    bus.remove_sink(sink)
    bus.publish(caption(3))
    assert [o.seq for o in sink.events] == [2]


def test_what_publish_returns_is_exactly_what_the_log_holds_and_every_sink_gets(bus):
    """Each event is serialised once: the log, every sink and the caller see the same message."""
    sink = Collect()
    bus.add_sink(sink)
    returned = [bus.publish(caption(1)), bus.publish(status("ended"))]
    assert bus.log.read_after(0) == returned
    assert [out.message for out in sink.events] == returned
    assert [json.loads(out.text) for out in sink.events] == returned
