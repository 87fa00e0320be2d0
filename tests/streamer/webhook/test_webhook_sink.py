"""The webhook sink against a real HTTP server on loopback: signed, ordered POSTs; an outage of
the server loses nothing; a URL that answers 4xx is dropped with one warning."""

from __future__ import annotations

import json
import logging

import pytest

from feedkit import caption, status
from netkit import free_port
from testlimits import wait_for
from webhookkit import Receiver
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog
from streamer.webhook.config import SIGNATURE_HEADER, WebhookConfig
from streamer.webhook.sink import WebhookSink, signature

SECRET = "a-test-secret-of-some-length"


@pytest.fixture
def bus(tmp_path):
    bus = EventBus(SqliteEventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False)), sources=["cam0"])
    yield bus
    bus.close()


def webhook(bus, tmp_path, urls) -> WebhookSink:
    config = WebhookConfig(urls=tuple(urls), secret=SECRET, types=("caption",), timeout_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.5)
    sink = WebhookSink(config, bus.log, tmp_path / "webhooks-cursor.json")
    sink.start()
    bus.add_sink(sink)
    return sink


def test_posts_are_signed_ordered_and_an_outage_of_the_server_loses_nothing(bus, tmp_path):
    port = free_port()
    receiver = Receiver(port)
    sink = webhook(bus, tmp_path, [f"http://127.0.0.1:{port}/hook"])
    try:
        sent = [bus.publish(caption(i))["seq"] for i in range(1, 4)]
        bus.publish(status("connected"))  # not a chosen type
        wait_for(lambda: receiver.seqs() == sent, "the first POSTs")
        receiver.stop()  # the server is away; the pipeline goes on
        sent += [bus.publish(caption(i))["seq"] for i in range(4, 10)]
        first, receiver = receiver, Receiver(port)
        got = wait_for(lambda: set(sent) <= set(s := first.seqs() + receiver.seqs()) and s, "every caption after the outage")
        receiver.stop()  # away again, and this sink stops before it comes back
        sent += [bus.publish(caption(i))["seq"] for i in range(10, 13)]
    finally:
        bus.remove_sink(sink)
        sink.stop()
        receiver.stop()
    assert got == sorted(got)
    second, again = receiver, webhook(bus, tmp_path, [f"http://127.0.0.1:{port}/hook"])  # a restart over the same log and cursor
    receiver = Receiver(port)
    try:
        late = wait_for(lambda: set(sent[-3:]) <= set(s := receiver.seqs()) and s, "the POSTs never answered, after the restart")
    finally:
        again.stop()
        receiver.stop()
    assert late == sent[-3:]
    for headers, body in first.posts + second.posts + receiver.posts:
        assert headers[SIGNATURE_HEADER] == signature(SECRET, body)
        assert headers["X-Jepa-Stream-Seq"] == str(json.loads(body)["seq"]) and headers["X-Jepa-Stream-Event"] == "caption"
        assert json.loads(body)["type"] == "caption"


def test_a_url_that_answers_4xx_is_dropped_with_one_warning_and_the_others_still_get_everything(bus, tmp_path, caplog):
    good, bad = Receiver(free_port()), Receiver(free_port(), status=404)
    urls = [f"http://127.0.0.1:{r.server.server_port}/" for r in (bad, good)]
    sink = webhook(bus, tmp_path, urls)
    try:
        with caplog.at_level(logging.WARNING, logger="streamer.webhook.sink"):
            sent = [bus.publish(caption(i))["seq"] for i in range(1, 6)]
            wait_for(lambda: good.seqs() == sent, "every POST at the good URL")
    finally:
        sink.stop()
        good.stop()
        bad.stop()
    assert bad.seqs() == sent[:1]  # asked once, then dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and urls[0] in warnings[0] and "404" in warnings[0]


def test_a_cursor_past_the_end_of_a_new_log_starts_at_its_end_and_a_damaged_cursor_is_a_clear_error(bus, tmp_path):
    (tmp_path / "webhooks-cursor.json").write_text('{"seq": 500}\n')  # left by an older log
    config = WebhookConfig(urls=("http://127.0.0.1:9/",), secret=SECRET)
    assert WebhookSink(config, bus.log, tmp_path / "webhooks-cursor.json").cursor.seq == bus.log.last_seq == 0
    (tmp_path / "webhooks-cursor.json").write_text("not json")
    with pytest.raises(ValueError, match=r"cursor .*webhooks-cursor.json: unreadable .* remove it"):
        WebhookSink(config, bus.log, tmp_path / "webhooks-cursor.json")
