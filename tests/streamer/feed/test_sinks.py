"""Outputs of the event bus: one interface (start, emit, stop), never blocking the publisher."""

from __future__ import annotations

import io
import json
import threading

import pytest

from feedkit import caption, embedding, stats, status
from streamer.feed.sinks import ConsoleSink, JsonlSink, QueuedSink
from streamer.worker import OverflowPolicy
from testlimits import TIMEOUT_S


class GatedSink(QueuedSink):
    """A trivial extra output: keeps each event's seq, but its first write waits for ``gate``."""

    name = "gated"

    def __init__(self, max_queue, policy):
        super().__init__(max_queue, policy)
        self.writing, self.gate, self.seqs = threading.Event(), threading.Event(), []

    def write(self, event):
        self.writing.set()
        assert self.gate.wait(TIMEOUT_S)
        self.seqs.append(event.seq)


@pytest.mark.parametrize(("policy", "kept"), [(OverflowPolicy.DROP_OLDEST, [1, 7, 8, 9, 10]), (OverflowPolicy.DROP_NEWEST, [1, 2, 3, 4, 5])])
def test_a_stuck_output_never_blocks_the_publisher_and_its_policy_says_what_it_keeps(bus, policy, kept):
    sink = GatedSink(max_queue=4, policy=policy)
    sink.start()
    bus.add_sink(sink)
    bus.publish(caption(1))
    assert sink.writing.wait(TIMEOUT_S)  # the first event is being written, and stuck there
    for i in range(2, 11):
        bus.publish(caption(i))  # returns at once: the bus only hands over
    assert sink.dropped == 5 and bus.last_seq == 10
    sink.gate.set()
    sink.stop()
    assert sink.seqs == kept and sink.written == 5


def test_an_output_that_fails_stops_writing_and_the_publisher_goes_on(bus):
    class Broken(QueuedSink):
        name = "broken"

        def write(self, event):
            raise OSError("disk full")

    sink = Broken()
    sink.start()
    bus.add_sink(sink)
    for i in range(3):
        bus.publish(caption(i))
    sink.stop()
    assert sink.failed == "disk full" and sink.written == 0 and bus.last_seq == 3


def test_the_jsonl_output_keeps_the_logged_events_line_by_line(bus, tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink.start()
    bus.add_sink(sink)
    sent = [bus.publish(caption(1)), bus.publish(stats()), bus.publish(embedding(dim=4)), bus.publish(status("ended"))]
    sink.stop()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [sent[0], sent[3]]
    with pytest.raises(OSError, match="the file exists; pass --overwrite"):
        JsonlSink(path)
    JsonlSink(path, overwrite=True).stop()
    assert path.read_text() == ""


def test_the_console_prints_captions_on_stdout_and_status_on_stderr(bus):
    out, err = io.StringIO(), io.StringIO()
    sink = ConsoleSink(stdout=out, stderr=err)
    sink.start()
    bus.add_sink(sink)
    bus.publish(caption(1, text="tabby"))
    bus.publish(stats())
    bus.publish(status("reconnecting"))
    sink.stop()
    assert out.getvalue().count("\n") == 1 and "tabby" in out.getvalue()
    assert err.getvalue().startswith("cam0: reconnecting")
