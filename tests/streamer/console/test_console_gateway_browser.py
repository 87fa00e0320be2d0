"""The console page served by a gateway (headless Chromium): captions from the engine, and the engine's outage shown."""

from __future__ import annotations

import pytest

from browserkit import browser, chromium_unavailable, wait_js
from buskit import Gateway, Worker
from natskit import nats_binary, nats_server  # noqa: F401 (fixture)
from streamer.console.console_config import ConsoleConfig
from streamer.console.routes import console_routes
from streamer.feed.bus_config import BusConfig

pytestmark = [pytest.mark.skipif(chromium_unavailable() is not None, reason=str(chromium_unavailable())),
              pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")]

ENTRIES = "return document.querySelectorAll('#timeline .entry').length"
FEED_STATE = "return document.getElementById('feed-state').dataset.state"


def test_the_page_of_a_gateway_shows_captions_and_says_when_the_engine_is_down(nats_server):
    config = BusConfig(url=nats_server.url, reconnect_wait_s=0.1)
    worker, gateway = Worker(config), Gateway(config, console_routes(ConsoleConfig(), None, None))
    try:
        worker.publish(3)
        with browser() as page:
            page.get(gateway.url.replace("ws://", "http://", 1))
            wait_js(page, f"{ENTRIES} === 3", "the three captions")
            nats_server.kill()
            wait_js(page, f"{FEED_STATE} === 'engine-down'", "the page to say the engine is down")
            assert "event engine" in page.find_element("id", "feed-state").text
            assert page.execute_script("return document.querySelector('#tiles [data-source=\"engine\"]')") is None, \
                "the engine is not a camera: no tile for it"
            assert page.execute_script("return document.querySelectorAll('#tiles > *').length") == 1
            nats_server.start()
            wait_js(page, f"{FEED_STATE} === 'live'", "the page to say the feed is live again")
            worker.publish(1)
            wait_js(page, f"{ENTRIES} === 4", "a caption published after the outage")
    finally:
        gateway.close()
        worker.close()
