"""`jepa-stream replay --decoder vlm` end to end: real video, real models, the tiny random SmolVLM."""

import json
import sqlite3

import jsonschema
import pytest

from streamer.feed.protocol import load_schema
from test_replay_cli import jepa_stream, read_events
from videokit import Shot, write_video


@pytest.fixture(scope="module")
def two_scene_video(photos, tmp_path_factory):
    path = tmp_path_factory.mktemp("vlm") / "two.mp4"
    write_video(path, [Shot(photos["chelsea"], 5.0, pan=0.5), Shot(photos["rocket"], 5.0, pan=-0.5)], size=(320, 180))
    return path


def test_replay_with_the_vlm_decoder_links_an_enrichment_to_every_caption(two_scene_video, tmp_path):
    out, log = tmp_path / "events.jsonl", tmp_path / "events.sqlite"
    r = jepa_stream("replay", two_scene_video, "--decoder", "vlm", "--decoder-weights", "random:tiny",
                    "--events-out", out, "--event-log", log)
    assert r.returncode == 0, r.stderr
    events = read_events(out)
    captions = [e for e in events if e["type"] == "caption"]
    enrichments = [e for e in events if e["type"] == "enrichment"]
    assert len(captions) >= 2 and sorted(e["caption_seq"] for e in enrichments) == [c["seq"] for c in captions]
    by_seq = {c["seq"]: c for c in captions}
    for e in enrichments:
        jsonschema.validate(e, load_schema("enrichment"))
        assert e["seq"] > e["caption_seq"] and e["t"] == by_seq[e["caption_seq"]]["t"]
        assert e["weights"] == "random" and "token ids" in e["note"]
    assert {e["state"] for e in enrichments} <= {"done", "skipped"} and "done" in {e["state"] for e in enrichments}
    assert any(e["change"] for e in enrichments if e["state"] == "done")  # a later change is compared with the one before
    assert "VLM decoder (random weights" in r.stderr and "dropped at the end" in r.stderr
    with sqlite3.connect(log) as db:  # the durable log holds them too, as sent
        logged = [json.loads(body) for (body,) in db.execute("SELECT body FROM events WHERE type = 'enrichment' ORDER BY seq")]
    assert logged == sorted(enrichments, key=lambda e: e["seq"])


def test_bad_decoder_weights_are_one_line(two_scene_video, tmp_path):
    r = jepa_stream("replay", two_scene_video, "--decoder", "vlm", "--decoder-weights", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.startswith("jepa-stream: error: model.decoder.vlm.weights: cannot load VLM weights")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = jepa_stream("replay", two_scene_video, "--decoder-weights", "random")  # weights for a decoder that is not on
    assert r.returncode == 2 and r.stderr.strip() == (
        "jepa-stream: error: --decoder-weights random: the decoder is retrieval; add --decoder vlm (or model.decoder.type: vlm)")


def test_run_serves_enrichments_and_stats_with_the_budget_spent(two_scene_video, tmp_path):
    """`run` over the feed: the subscribe client passes enrichments through; stats carry the budget."""
    import asyncio

    from runkit import run_cli
    from streamer.feed.client import subscribe
    from testlimits import TIMEOUT_S

    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  stats_interval_s: 1.0\n  log:\n    path: {tmp_path / 'log.sqlite'}\n")
    with run_cli("--source", two_scene_video, "--port", 0, "--config", config,
                 "--decoder", "vlm", "--decoder-weights", "random:tiny") as (_, url):
        async def collect():
            return [e async for e in subscribe(url, types=("caption", "enrichment", "stats"), reconnect=False)]

        events = asyncio.run(asyncio.wait_for(collect(), 3 * TIMEOUT_S))
    captions = {e["seq"]: e for e in events if e["type"] == "caption"}
    enrichments = [e for e in events if e["type"] == "enrichment"]
    assert captions and sorted(e["caption_seq"] for e in enrichments) == sorted(captions)
    for e in enrichments:
        jsonschema.validate(e, load_schema("enrichment"))
    budgets = [e["decoder"] for e in events if e["type"] == "stats" and "decoder" in e]
    assert budgets, "no stats event carried the decoder's budget"
    for b in budgets:
        jsonschema.validate({"v": 1, "type": "stats", "source": "s", "wall_time": 0.0, "decoder": b}, load_schema("stats"))
        assert b["budget_per_minute"] == 6.0 and b["spent_last_minute"] == b["admitted"] <= len(captions)
    assert budgets[-1]["spent_last_minute"] >= 1
