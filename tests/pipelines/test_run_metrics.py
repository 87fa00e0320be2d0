"""`jepa-stream run` serves Prometheus metrics at /metrics on the feed's port, behind its token.

A real run on a video file, a real subscriber on the WebSocket feed, and plain HTTP GETs on
loopback; the text is parsed by prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
import http.client
import os
from collections import Counter
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from streamer.feed.client import subscribe
from runkit import run_cli
from testlimits import TIMEOUT_S, wait_for
from videokit import Shot, write_video

TOKEN = "metrics-test-token-0123"


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as ``{(name, sorted labels): value}``."""
    status, text = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_count_what_the_run_did_and_need_the_token(photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos[name], 4.0) for name in ("chelsea", "coffee", "rocket", "camera")], size=(320, 180))
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'log.sqlite'}\n")
    env = {**os.environ, "JEPA_STREAM_TOKEN": TOKEN}
    with run_cli("--source", f"cam={video}", "--port", 0, "--config", config, env=env, stop=True) as (_, url):
        port = urlsplit(url).port
        assert get(port, "/metrics")[0] == 401
        assert get(port, "/metrics", {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        first = scrape(port)
        assert value(first, "jepa_stream_feed_subscribers") == 0
        for reason in ("start", "change", "heartbeat"):  # every reason is there from the start
            assert ("jepa_stream_decodes_total", (("reason", reason), ("source", "cam"))) in first

        async def watch():
            captions: list[dict] = []
            scraped = None
            async for event in subscribe(url, token=TOKEN, types=("caption",), from_seq=0, reconnect=False):
                captions.append(event)
                if scraped is None and len(captions) >= 2:
                    scraped = await asyncio.to_thread(scrape, port)  # while this client is connected
                    decoded = sum(v for (name, labels), v in scraped.items()
                                  if name == "jepa_stream_decodes_total")
                if scraped is not None and len(captions) >= decoded:  # the captions of the decodes counted
                    return captions, scraped

        captions, during = asyncio.run(asyncio.wait_for(watch(), 3 * TIMEOUT_S))
        assert value(during, "jepa_stream_feed_subscribers") == 1
        assert value(during, "jepa_stream_feed_connections_total") == 1
        counted = {reason: value(during, "jepa_stream_decodes_total", source="cam", reason=reason)
                   for reason in ("start", "change", "heartbeat")}
        received = Counter(e["reason"] for e in captions[: int(sum(counted.values()))])
        assert {r: n for r, n in counted.items() if n} == dict(received)
        assert counted["start"] == 1 and counted["change"] >= 1
        assert value(during, "jepa_stream_feed_events_replayed_total") + \
            value(during, "jepa_stream_feed_events_sent_total", type="caption") >= 2  # the two before the scrape

        analysed = value(during, "jepa_stream_frames_total", source="cam", stage="analysed")
        clips = value(during, "jepa_stream_clips_total", source="cam")
        assert analysed >= clips > 0
        assert value(during, "jepa_stream_frames_total", source="cam", stage="in") >= analysed
        assert value(during, "jepa_stream_step_seconds_count", source="cam") == clips
        assert value(during, "jepa_stream_step_seconds_bucket", source="cam", le="+Inf") == clips
        assert value(during, "jepa_stream_step_seconds_sum", source="cam") > 0
        assert value(during, "jepa_stream_source_connections_total", source="cam") == 1
        assert value(during, "jepa_stream_reconnects_total", source="cam") == 0
        assert value(during, "jepa_stream_drift_threshold", source="cam") > 0

        def grown_and_left():
            s = scrape(port)
            return (value(s, "jepa_stream_frames_total", source="cam", stage="analysed") > analysed
                    and value(s, "jepa_stream_feed_subscribers") == 0)  # the client has left

        wait_for(grown_and_left, "frames analysed to grow, and the subscriber count to drop to 0")
