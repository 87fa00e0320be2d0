"""The console page's join of enrichments to captions, in headless Chromium against a real feed
server whose events the test publishes: an enrichment replayed before its caption is kept and
shown once the caption comes, failed states are muted with their detail and badged for random
weights, live captions of a VLM run (known from stats.decoder) wait as "VLM …" until their text,
and text that looks like markup stays text."""

from __future__ import annotations

import pytest

from browserkit import browser, chromium_unavailable, wait_js
from feedkit import caption, running, stats
from streamer.console.console_config import ConsoleConfig
from streamer.console.routes import console_routes
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog, EventLogConfig
from streamer.feed.events import EnrichmentEvent
from testlimits import TIMEOUT_S

pytestmark = [pytest.mark.skipif(chromium_unavailable() is not None, reason=str(chromium_unavailable())),
              pytest.mark.timeout(TIMEOUT_S * 2)]

RANDOM_NOTE = "random weights: the text is token ids, not language"


def enrichment(caption_seq: int, state: str, *, text: str | None = None, detail: str | None = None,
               weights: str = "pretrained", latency_ms: float | None = 1234.5, lag_s: float | None = 2.0) -> dict:
    return EnrichmentEvent(source="cam0", caption_seq=caption_seq, t=float(caption_seq), state=state, text=text,
                           detail=detail, model="tiny", weights=weights, note=RANDOM_NOTE if weights == "random" else None,
                           latency_ms=latency_ms, lag_s=lag_s, tokens=7 if text else None).to_dict()


def entry(seq: int, part: str = "") -> str:
    return f"document.querySelector('.entry[data-seq=\"{seq}\"] {part}')"


@pytest.fixture
def bus(tmp_path):
    log = EventLog(EventLogConfig(str(tmp_path / "events.sqlite"), fsync=False))
    yield EventBus(log, sources=["cam0"], profile="lite")
    log.close()


def test_the_page_joins_enrichments_early_failed_pending_and_live(bus):
    markup = "<b>a person</b> sits & <img src=x onerror=alert(1)>"
    # History: the enrichment comes first (seq 1, for the caption that will be seq 2).
    assert bus.publish(enrichment(2, "done", text=markup))["seq"] == 1
    assert bus.publish(caption(2))["seq"] == 2
    assert bus.publish(caption(3))["seq"] == 3
    bus.publish(enrichment(3, "failed", detail="the model raised: out of memory", weights="random", latency_ms=None, lag_s=None))
    with running(bus, routes=console_routes(ConsoleConfig(), None, None)) as server, browser() as page:
        page.get(f"http://127.0.0.1:{server.port}/")
        wait_js(page, f"return {entry(3, '.enr')}?.dataset.state === 'failed'", "the replayed captions with their enrichments")
        assert page.execute_script(f"return {entry(2, '.enr')}.dataset.state") == "done"
        assert page.execute_script(f"return {entry(2, '.enr-text')}.textContent") == markup
        assert page.execute_script(f"return document.querySelectorAll('.entry b, .entry img:not(.thumb)').length") == 0
        assert page.execute_script(f"return {entry(2, '.badge')}") is None  # pretrained: no badge
        assert page.execute_script(f"return {entry(3, '.enr-text')}.textContent") == "VLM failed: the model raised: out of memory"
        assert page.execute_script(f"return [{entry(3, '.badge')}.textContent, {entry(3, '.badge')}.title]") == [
            "random weights", RANDOM_NOTE]

        # Live, and the run is known to use the VLM: a caption waits for its text, in the tile too.
        bus.publish({**stats(), "decoder": {"type": "vlm", "budget_per_minute": 6.0, "spent_last_minute": 2}})
        assert bus.publish(caption(5))["seq"] == 5
        tile = "document.querySelector('.tile[data-source=\"cam0\"] .enrichment')"
        wait_js(page, f"return {entry(5, '.enr')}?.dataset.state === 'pending' && {tile}.dataset.state === 'pending'",
                "the live caption pending")
        assert page.execute_script(f"return [{entry(5, '.enr')}.textContent, {tile}.textContent]") == ["VLM …", "VLM …"]
        assert page.execute_script("return document.querySelector('.tile .vlm-budget').textContent") == "· VLM 2/6 per minute"
        assert page.execute_script(f"return {entry(2, '.enr')}.dataset.state") == "done"  # replayed ones are not pending

        bus.publish(enrichment(5, "done", text="a dog runs", latency_ms=250.0, lag_s=0.5))
        wait_js(page, f"return {tile}.textContent === 'a dog runs'", "the enrichment in the tile")
        assert page.execute_script(f"return {entry(5, '.enr')}.textContent") == "a dog runs"

        page.execute_script(f"{entry(2)}.click()")
        wait_js(page, "return document.getElementById('details').dataset.seq === '2'", "the details")
        assert page.execute_script("return document.querySelector('#d-enrichment .enr-text').textContent") == markup
        assert page.execute_script("return document.getElementById('d-vlm').textContent") == "done · 1234.5 ms · lag 2.0 s · 7 tokens · pretrained"
