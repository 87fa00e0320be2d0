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
