"""Per-client limits without sockets: the backpressure queue, the rate limiter, the strike counter."""

from __future__ import annotations

import pytest

from feedkit import caption, embedding, stats, status
from streamer.feed.limits import ClientQueue, RateLimiter, StrikeCounter
from streamer.feed.protocol import Outgoing, prepare_event

SEQ = iter(range(1, 10_000))


def ev(event: dict):
    return prepare_event(event, None if event["type"] in ("stats", "embedding") else next(SEQ))


def kinds(queue: ClientQueue) -> list[str]:
    return [item.type.value if isinstance(item, Outgoing) else item for item in queue.take_all()]


def test_below_the_limit_everything_is_queued_in_order_with_controls():
    queue = ClientQueue(limit=3)
    queue.put("hello")
    assert all(queue.offer(ev(e)) for e in (caption(1), embedding(dim=4), stats()))
    assert (len(queue), queue.events) == (4, 3)
    assert queue.pop() == "hello" and queue.pop().type.value == "caption" and queue.events == 2


def test_a_full_queue_drops_new_embeddings_first():
    queue = ClientQueue(limit=2)
    for e in (caption(1), status()):
        queue.offer(ev(e))
    assert queue.offer(ev(embedding(dim=4))) is True
    assert queue.dropped == {"embedding": 1, "stats": 0}
    assert kinds(queue) == ["caption", "status"]


def test_stats_replace_an_embedding_else_are_dropped():
    queue = ClientQueue(limit=2)
    queue.offer(ev(embedding(dim=4)))
    queue.offer(ev(caption(1)))
    assert queue.offer(ev(stats())) is True
    assert queue.dropped == {"embedding": 1, "stats": 0} and kinds(queue) == ["caption", "stats"]
    queue.offer(ev(caption(2)))
    queue.offer(ev(caption(3)))
    assert queue.offer(ev(stats())) is True and queue.dropped["stats"] == 1


def test_captions_push_out_the_oldest_embedding_then_the_oldest_stats_then_overflow():
    queue = ClientQueue(limit=3)
    for e in (stats(), embedding(dim=4), embedding(dim=4)):
        queue.offer(ev(e))
    queue.put("error message")
    assert queue.offer(ev(caption(1))) and queue.offer(ev(caption(2)))
    assert queue.dropped == {"embedding": 2, "stats": 0}
    assert queue.offer(ev(status())) and queue.dropped == {"embedding": 2, "stats": 1}
    assert queue.offer(ev(caption(3))) is False, "only logged events left: overflow"
    assert kinds(queue) == ["error message", "caption", "caption", "status"], "nothing queued on overflow"


def test_discarding_events_keeps_and_converts_control_items():
    queue = ClientQueue(limit=4)
    queue.put("a")
    queue.offer(ev(caption(1)))
    queue.put("b")
    queue.discard_events(str.upper)
    assert (queue.events, queue.take_all()) == (0, ["A", "B"])


def test_queue_limit_is_validated():
    with pytest.raises(ValueError, match="client queue limit must be an integer >= 1"):
        ClientQueue(limit=0)


def test_rate_limiter_allows_bursts_then_the_average_rate():
    limiter = RateLimiter(rate=1.0, burst=3, now=0.0)
    assert [limiter.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow(0.5) is False and limiter.allow(1.0) is True


def test_strikes_close_only_when_enough_fall_within_the_window():
    strikes = StrikeCounter(limit=3, window_s=10.0)
    assert [strikes.strike(t) for t in (0.0, 1.0)] == [False, False]
    assert strikes.strike(20.0) is False, "old strikes expire"
    assert [strikes.strike(t) for t in (21.0, 22.0)] == [False, True]
