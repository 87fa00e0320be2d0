"""The enrichment event on the feed: logged, resumable by from_seq, filtered by type, schema-valid."""

from __future__ import annotations

import asyncio

import jsonschema
import pytest

from feedkit import caption, open_subscribed, publish, recv_until
from streamer.feed.events import EnrichmentEvent
from streamer.feed.protocol import EventType, LOGGED_TYPES, load_schema, parse_client_message


def enrichment(caption_seq: int, state: str = "done", source: str = "cam0") -> dict:
    text, detail = ("a person walks in", None) if state == "done" else (None, "over budget (6/min)")
    return EnrichmentEvent(source, caption_seq, float(caption_seq), state, text, detail, "tiny architecture, random init",
                           "random", "random weights", change=True, latency_ms=12.0, cpu_s=0.01, lag_s=0.02, tokens=5).to_dict()


def test_enrichment_is_logged_and_a_subscription_may_ask_for_it():
    assert EventType.ENRICHMENT in LOGGED_TYPES
    sub = parse_client_message('{"type": "subscribe", "types": ["caption", "enrichment"], "from_seq": 0}', 4096)
    assert sub.types == {EventType.CAPTION, EventType.ENRICHMENT}


def test_an_enrichment_needs_text_when_done_and_a_detail_otherwise():
    with pytest.raises(ValueError, match="carries"):
        EnrichmentEvent("cam0", 1, 1.0, "done", None, "why", "m", "random", None)
    with pytest.raises(ValueError, match="state must be one of"):
        EnrichmentEvent("cam0", 1, 1.0, "late", None, "why", "m", "random", None)


def test_a_client_resuming_mid_way_gets_the_enrichment_of_a_caption_it_already_had(bus, server):
    """Caption 1 was seen before the disconnect; its enrichment (seq 3) comes after the resume."""
    bus.publish(caption(1))  # seq 1
    bus.publish(caption(2))  # seq 2
    bus.publish(enrichment(1))  # seq 3: enriches seq 1
    bus.publish(enrichment(2, "skipped"))  # seq 4

    async def main():
        ws, _, _ = await open_subscribed(server.url, types=["caption", "enrichment"], from_seq=1)
        got = await recv_until(ws, 3)
        assert [(e["type"], e["seq"]) for e in got] == [("caption", 2), ("enrichment", 3), ("enrichment", 4)]
        assert [e["caption_seq"] for e in got[1:]] == [1, 2]
        for event in got:
            jsonschema.validate(event, load_schema(event["type"]))
        await publish(bus, caption(3))  # seq 5
        await publish(bus, enrichment(5))  # seq 6: live, after the replay
        live = await recv_until(ws, 2)
        assert [(e["type"], e["seq"], e.get("caption_seq")) for e in live] == [("caption", 5, None), ("enrichment", 6, 5)]
        await ws.close()
        default, _, _ = await open_subscribed(server.url, from_seq=0)  # the default types leave enrichments out
        assert [e["type"] for e in await recv_until(default, 2)] == ["caption", "caption"]
        await default.close()

    asyncio.run(main())
    assert [e["type"] for e in bus.log.read_after(0, types=["enrichment"])] == ["enrichment"] * 3
