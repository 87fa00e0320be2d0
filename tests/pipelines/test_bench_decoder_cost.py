"""`bench --decoder vlm`: VLM-on-drift against VLM-on-every-clip, and the real-time lag model."""

import json

from pipelines.bench.decoder_cost import realtime_lags
from test_bench_cli import jepa_stream
from videokit import Shot, write_video


def test_a_free_worker_serves_each_request_at_once():
    served, lags = realtime_lags([0.0, 10.0, 20.0], [2.0, 3.0, 1.0])
    assert served == [0, 1, 2] and lags == [2.0, 3.0, 1.0]


def test_a_busy_worker_keeps_only_the_newest_request():
    # clips every 0.5 s, 2 s each: requests 1-3 arrive while 0 runs; only 3 waits for it
    served, lags = realtime_lags([0.0, 0.5, 1.0, 1.5, 5.0], [2.0] * 5)
    assert served == [0, 3, 4]
    assert lags == [2.0, 2.5, 2.0]  # 3 starts at 2.0 (when 0 ends) and ends at 4.0: 2.5 s after 1.5


def test_bench_reports_the_decoder_cost_side_by_side(photos, tmp_path):
    video = tmp_path / "two.mp4"
    write_video(video, [Shot(photos["chelsea"], 5.0, pan=0.5), Shot(photos["rocket"], 5.0, pan=-0.5)], size=(320, 180))
    out = tmp_path / "bench"
    r = jepa_stream("bench", video, "--out", out, "--no-peers", "--baseline-clips", "3",
                    "--decoder", "vlm", "--decoder-weights", "random:tiny")
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    d = report["decoder_cost"]
    assert d["weights"] == "random" and "token ids" in d["note"] and "thread_time" in d["cpu_clock"]
    on_drift, every = d["on_drift"], d["every_clip"]
    assert on_drift["decisions"] == report["strategies"]["selective"]["decodes"] and on_drift["texts"] >= 1
    assert every["captions_timed"] == 3 and every["clips"] == report["videos"][0]["clips"]
    minutes = report["media_s"] / 60
    assert abs(every["captions_per_min"] - every["clips"] / minutes) < 0.01
    assert every["cpu_s_per_min"] > on_drift["cpu_s_per_min"] > 0 and d["cpu_ratio"] > 1
    assert on_drift["realtime_lag_s"]["p50"] > 0
    assert "## VLM decoder cost" in (out / "report.md").read_text() and "VLM decoder (random weights)" in r.stdout
