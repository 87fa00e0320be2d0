"""`jepa-stream run` serves the embedding stream and periodic stats over the real WebSocket feed."""

import asyncio

import numpy as np

from streamer.feed.client import subscribe
from streamer.feed.protocol import embedding_array
from runkit import run_cli
from testlimits import TIMEOUT_S
from videokit import Shot, write_video


def test_subscribers_get_embeddings_per_clip_and_stats_with_the_decode_economy(photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 4.0), Shot(photos["coffee"], 4.0)], size=(320, 180))
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  stats_interval_s: 1.0\n  log:\n    path: {tmp_path / 'log.sqlite'}\n")
    with run_cli("--source", video, "--port", 0, "--config", config) as (_, url):
        async def collect():
            got = []
            async for event in subscribe(url, types=("embedding", "stats", "caption"), reconnect=False):
                got.append(event)
            return got

        events = asyncio.run(asyncio.wait_for(collect(), 3 * TIMEOUT_S))

    embeddings = [e for e in events if e["type"] == "embedding"]
    stats = [e for e in events if e["type"] == "stats"]
    captions = [e for e in events if e["type"] == "caption"]
    assert len(embeddings) >= 10  # one per clip, every 0.5 s of media time
    vectors = np.stack([embedding_array(e) for e in embeddings])
    assert vectors.shape[1] == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)  # float16 on the wire
    ends = [e["t_end"] for e in embeddings]
    # In order, on the clip grid; a subscriber that falls behind may lose some (embeddings go first).
    assert ends == sorted(set(ends)) and all((2 * t) % 1 == 0 for t in ends)
    assert len(stats) >= 3
    last = stats[-1]
    assert last["decodes"] <= last["uniform_1hz_decodes"] and last["clips"] >= last["decodes"] >= 1
    assert last["decodes"] <= len(captions) + 1  # stats may be sent before the last caption
    assert [s["clips"] for s in stats] == sorted(s["clips"] for s in stats)
    # The drift trace a client draws: the statistic per clip against the threshold in force.
    assert all(e["threshold"] > 0 and (e["drift"] is None or e["drift"] >= 0) for e in embeddings)
    fired = {c["t_end"]: c for c in captions if c["reason"] == "change"}
    assert fired and all(e["drift"] >= e["threshold"] for e in embeddings if e["t_end"] in fired)
    # Every caption names its snapshot, written beside the event log by the time the run ended.
    for caption in captions:
        assert caption["snapshot"].startswith("/snapshots/v/")
        jpeg = tmp_path / caption["snapshot"].lstrip("/")
        assert jpeg.read_bytes()[:2] == b"\xff\xd8"
