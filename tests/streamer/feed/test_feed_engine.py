"""The event log on NATS JetStream, with real servers on loopback: ids, outbox, restarts, a cluster, gateways."""

from __future__ import annotations

import json
import logging
import sys
import threading

import pytest

from buskit import Gateway, Reader, Worker, texts
from feedkit import caption, stats
from natskit import NatsServer, nats_binary, nats_cluster, nats_server  # noqa: F401 (fixtures)
from streamer.feed.bus_config import BusConfig
from streamer.feed.engine import open_engine
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.jetstream_log import JetStreamLog
from streamer.feed.outbox import Outbox, OutboxStats
from streamer.feed.protocol import prepare_event
from testlimits import TIMEOUT_S, wait_for

pytestmark = pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")


def stopped(stop: threading.Event, thread: threading.Thread, *parts) -> None:
    """Stop the worker's publishing thread; when the test failed before its checks (an exception
    is on its way), also close ``parts``, so that no link of this test goes on logging into the next."""
    stop.set()
    thread.join()
    if sys.exc_info()[0] is not None:
        for part in parts:
            part.close()


def check_everything_once(worker: Worker, gateway: Gateway, reader: Reader) -> None:
    """Once the worker's outbox is empty: the reader got every published caption once, seqs 1..last
    with no gap and no duplicate, and nothing was dropped. Closes the three."""
    try:
        wait_for(lambda: worker.bus.outbox.stats.queued == 0, "the outbox to drain")
        last = worker.engine.log.last_seq
        wait_for(lambda: reader.seqs[-1:] == [last], "the reader to get the last event")
        assert reader.seqs == list(range(1, last + 1)), "no gap, no duplicate"
        assert texts(reader.messages) == [f"caption {i}" for i in range(1, worker.published + 1)]
        assert worker.bus.outbox.stats.dropped == 0
    finally:
        reader.close()
        gateway.close()
        worker.close()


def test_a_resent_message_id_is_dropped_and_its_ack_gives_the_first_seq(nats_server):
    engine = open_engine(BusConfig(url=nats_server.url), EventLogConfig(), "test", wait_s=10)
    try:
        first, second = (prepare_event(caption(i), 0) for i in (1, 2))
        assert [engine.log.append(e) for e in (first, first, second, first)] == [1, 1, 2, 1]
        assert engine.log.last_seq == 2, "the re-sends were not stored"
        other_run = JetStreamLog(engine.link, engine.log.bus, EventLogConfig(), "another-run")
        assert other_run.append(first) == 3, "the same camera and media time from another run is a new event"
        stored = engine.log.read_wire_after(0)
        assert [seq for seq, _ in stored] == [1, 2, 3] and '"seq":2,' in stored[1][1]
    finally:
        engine.close()


def test_the_stream_takes_retention_and_replicas_from_the_settings(nats_server):
    retention = EventLogConfig(retention_max_age_s=3600.0, retention_max_events=1000, retention_max_bytes=1 << 20)
    engine = open_engine(BusConfig(url=nats_server.url, site="lab"), retention, "test", wait_s=10)
    try:
        engine.log.ensure_stream()
        info = engine.link.call(engine.log.js.stream_info("JEPA_lab"), 5)
        assert (info.config.max_age, info.config.max_msgs, info.config.max_bytes) == (3600.0, 1000, 1 << 20)
        assert info.config.num_replicas == 1 and "jepa.lab.*.caption" in info.config.subjects
    finally:
        engine.close()


def test_while_the_engine_is_down_the_outbox_keeps_the_newest_and_drains_in_order(tmp_path, caplog):
    server = NatsServer(tmp_path / "nats")  # not started yet: the engine is down
    caplog.set_level(logging.WARNING, logger="streamer.feed.outbox")
    worker = Worker(BusConfig(url=server.url, reconnect_wait_s=0.1), outbox_max=5)
    try:
        worker.publish(8)  # returns at once: the pipeline never waits for the engine
        assert worker.bus.outbox.stats.dropped == 3 and worker.bus.outbox.stats.queued == 5
        sent_stats = worker.bus.publish(stats())
        assert sent_stats["bus"] == {"queued": 5, "sent": 0, "dropped": 3}
        warnings = [r.getMessage() for r in caplog.records if r.name == "streamer.feed.outbox"]
        assert len(warnings) == 1 and "dropping the oldest" in warnings[0], "one line per outage, not one per drop"
        server.start()
        wait_for(lambda: worker.bus.outbox.stats.sent == 5, "the outbox to drain")
        stored = worker.engine.log.read_wire_after(0)
        assert [seq for seq, _ in stored] == [1, 2, 3, 4, 5]
        kept = [json.loads(text)["text"] for _, text in stored]
        # The newest four always stay. The fifth is caption 4, or an older one when the outbox thread
        # was trying to send it as the queue overflowed: the event in flight is never the one dropped.
        assert kept[1:] == ["caption 5", "caption 6", "caption 7", "caption 8"]
        assert kept[0] in ("caption 1", "caption 2", "caption 3", "caption 4")
        assert any("answers again; 3 events were dropped" in r.getMessage() for r in caplog.records)
        gateway = Gateway(BusConfig(url=server.url))
        try:  # the count reaches /metrics through the worker's stats events
            worker.bus.publish(stats())
            wait_for(lambda: 'jepa_stream_bus_outbox_dropped{source="cam0"} 3.0' in gateway.metrics(),
                     "the gateway's /metrics to show the drops")
            assert "jepa_stream_bus_connected 1.0" in gateway.metrics()
        finally:
            gateway.close()
    finally:
        worker.close()
        server.stop()


def test_engine_restart_mid_stream_loses_nothing_acknowledged_and_repeats_nothing(nats_server):
    config = BusConfig(url=nats_server.url, reconnect_wait_s=0.1, ack_timeout_s=1.0)
    worker, gateway = Worker(config), Gateway(config)
    reader = Reader(gateway.url, from_seq=0)
    stop, thread = worker.run_in_thread(per_s=100)
    try:
        wait_for(lambda: len(reader.seqs) >= 50, "events before the restart")
        nats_server.kill()
        wait_for(lambda: "disconnected" in reader.engine_states(), "the gateway to tell its client")
        nats_server.start()
        wait_for(lambda: reader.engine_states()[-1:] == ["connected"], "the gateway to reconnect")
        before = worker.published
        wait_for(lambda: worker.bus.outbox.stats.sent >= before + 50, "events after the restart")
    finally:
        stopped(stop, thread, reader, gateway, worker)
    check_everything_once(worker, gateway, reader)


@pytest.mark.parametrize("victim", ["the stream's leader", "the gateway's node"])
def test_a_three_node_cluster_with_replicas_3_survives_the_loss_of_one_node(nats_cluster, victim):
    config = BusConfig(url=nats_cluster.url, stream_replicas=3, reconnect_wait_s=0.1, ack_timeout_s=1.0)
    gateway = Gateway(config)
    worker = Worker(config)
    reader = Reader(gateway.url, from_seq=0)
    stop, thread = worker.run_in_thread(per_s=100)
    try:
        wait_for(lambda: len(reader.seqs) >= 50, "events before the kill")
        info = worker.engine.link.call(worker.engine.log.js.stream_info(config.stream), 5)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2
        port = gateway.engine.link.client.connected_url.port
        chosen = (lambda node: node.name == info.cluster.leader) if victim == "the stream's leader" else \
            (lambda node: node.port == port)
        next(node for node in nats_cluster.nodes if chosen(node)).kill()
        after = len(reader.seqs)
        # The cluster elects new leaders and the gateway's ordered consumer is recreated on missed
        # heartbeats: allow for a loaded machine beyond the usual timeout.
        wait_for(lambda: len(reader.seqs) >= after + 100, "the feed to go on without the killed node", 2 * TIMEOUT_S)
    finally:
        stopped(stop, thread, reader, gateway, worker)
    check_everything_once(worker, gateway, reader)


def test_a_client_resuming_on_another_gateway_gets_no_gap_and_no_duplicate(nats_server):
    config = BusConfig(url=nats_server.url)
    worker, first, second = Worker(config), Gateway(config), Gateway(config)
    try:
        reader = Reader(first.url, from_seq=0)
        worker.publish(30)
        wait_for(lambda: len(reader.seqs) >= 10, "some events on the first gateway")
        reader.close()  # the client goes, somewhere in the middle
        resume_from = reader.seqs[-1]
        worker.publish(20)
        resumed = Reader(second.url, from_seq=resume_from)
        worker.publish(10)
        wait_for(lambda: resumed.seqs[-1:] == [60], "the last event on the second gateway")
        resumed.close()
        assert reader.seqs + resumed.seqs == list(range(1, 61))
        assert texts(reader.messages + resumed.messages) == [f"caption {i}" for i in range(1, 61)]
    finally:
        for part in (first, second, worker):
            part.close()


def test_the_outbox_never_drops_the_event_it_is_sending():
    sent, gate = [], threading.Event()

    def append(event):  # the engine answers only when the test says so
        gate.wait(TIMEOUT_S)
        return len(sent) + 1

    outbox = Outbox(append, lambda out: sent.append(out.message["text"]), limit=2, retry_s=0.01)
    try:
        first = prepare_event(caption(1), 0)
        outbox.put(first)
        wait_for(lambda: outbox._sending is first, "the first event to be in flight")
        for i in (2, 3, 4):
            outbox.put(prepare_event(caption(i), 0))
        assert outbox.stats == OutboxStats(queued=2, sent=0, dropped=2)
        gate.set()
        wait_for(lambda: len(sent) == 2, "the outbox to drain")
        assert sent == ["caption 1", "caption 4"], "the one in flight and the newest"
    finally:
        assert outbox.close(TIMEOUT_S) == 0


def test_a_gateway_whose_consumer_died_silently_reads_the_stream_again(nats_server, caplog):
    # An ordered consumer can die without the client noticing (its cluster node lost while the
    # leaders were being elected; nats.py issue 510): here the gateway's consumer is taken away
    # under it, and nothing recreates it. The gateway's watchdog sees its feed stand still behind
    # the stream and reads the stream again from its last relayed seq: no gap, no duplicate.
    config = BusConfig(url=nats_server.url, reconnect_wait_s=0.1, ack_timeout_s=1.0)
    worker, gateway = Worker(config), Gateway(config)
    reader = Reader(gateway.url, from_seq=0)
    try:
        worker.publish(20)
        wait_for(lambda: reader.seqs[-1:] == [20], "the first events")
        gateway.engine.link.call(gateway.parts.tail._consumer.unsubscribe(), TIMEOUT_S)
        worker.publish(20)
        wait_for(lambda: reader.seqs[-1:] == [40], "the events after the consumer died")
    finally:
        for part in (reader, gateway, worker):
            part.close()
    assert reader.seqs == list(range(1, 41))
    assert gateway.parts.tail.restarts >= 1
    assert any("reading it again" in r.getMessage() for r in caplog.records)
