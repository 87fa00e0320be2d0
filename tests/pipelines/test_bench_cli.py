"""`jepa-stream bench` end to end on a generated video: every field, and figures that agree."""

import json
import subprocess
import sys

import pytest

from testlimits import TIMEOUT_S

STAGES = ("encode", "predict", "decode", "total")
TIMED = {"selective", "uniform_1hz", "uniform_0.5hz", "ward_offline"}  # strategies that run our models, stage by stage
REPLAYED = {"selective_segment", "selective_cosine_text", "selective_segment_text"}  # other statistics on the same clips
PEERS = {"pyscenedetect_content", "pyscenedetect_adaptive", "transnetv2"}  # shot detectors on the same file


def jepa_stream(*args, timeout=4 * TIMEOUT_S):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_thread(tmp_path_factory):
    """A config with one torch thread: on a 2-core machine shared with other work, two intra-op
    threads wait on each other and a run gets many times slower (the tests check behaviour)."""
    path = tmp_path_factory.mktemp("cfg") / "one-thread.yaml"
    path.write_text("model:\n  encoder:\n    threads: 1\n")
    return path


@pytest.fixture(scope="module")
def bench(scene_video, tmp_path_factory, one_thread):
    video, truth = scene_video
    out = tmp_path_factory.mktemp("bench")
    result = jepa_stream(
        "bench", video, "--out", out, "--config", one_thread, "--baseline", "vlm", "--baseline-weights", "random:tiny",
        "--baseline-clips", "2", "--baseline-max-new-tokens", "4",
    )
    assert result.returncode == 0, result.stderr
    return result, json.loads((out / "report.json").read_text()), out, truth


def test_the_report_has_every_strategy_and_field(bench):
    _, report, out, _ = bench
    assert set(report["strategies"]) == TIMED | REPLAYED | PEERS
    for name, s in report["strategies"].items():
        for key in ("decodes", "decode_rate_hz", "precision", "recall", "f1", "lag_s", "latency_ms"):
            assert key in s, (name, key)
        for stage in STAGES if name in TIMED else ():
            assert set(s["latency_ms"][stage]) == {"p50", "p95", "p99"}, (name, stage)
    assert report["settings"]["peers"] == {name: "ran" for name in PEERS}
    for key in ("realtime_factor", "decode_reduction", "media_s", "videos", "machine"):
        assert key in report
    b = report["baseline_vlm"]
    assert b["weights"] == "random" and "random weights, no tokenizer: text is token ids" in b["note"]
    assert b["captions_timed"] == 2 and b["per_caption_ms"] > 0 and set(b["latency_ms"]["total"]) == {"p50", "p95", "p99"}
    assert (out / "report.md").read_text().startswith("# jepa-stream bench")
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figures_agree_with_each_other(bench):
    _, report, _, truth = bench
    (video,) = report["videos"]
    s = video["strategies"]
    sel = s["selective"]
    assert sel["decodes"] == len(video["captions"]) == report["strategies"]["selective"]["decodes"]
    assert sel["boundary_claims"] == sum(c["reason"] == "change" for c in video["captions"])
    assert sel["reasons"]["start"] == 1 and video["captions"][0]["reason"] == "start"
    for name, x in s.items():
        assert x["decode_rate_hz"] == pytest.approx(x["decodes"] / video["media_s"], abs=1e-3)
        assert x["boundaries"] == len(truth["boundaries"])
        assert x["recall"] == pytest.approx(x["matched"] / x["boundaries"], abs=1e-3)
        if x["boundary_claims"]:
            assert x["precision"] == pytest.approx(x["matched"] / x["boundary_claims"], abs=1e-3)
        if name in TIMED:
            assert len(x["latency_ms"]["decode"]) == 3
    assert s["uniform_1hz"]["decodes"] == pytest.approx(video["media_s"], abs=1.5)
    assert s["ward_offline"]["decodes"] == sel["decodes"]  # the same budget
    assert video["decode_reduction"] == pytest.approx(s["uniform_1hz"]["decodes"] / sel["decodes"], abs=1e-3)
    assert video["realtime_factor"] == pytest.approx(video["media_s"] / video["wall_s"], rel=1e-2)
    assert sel["recall"] >= 0.75 and s["uniform_1hz"]["recall"] == 1.0
    # Hard cuts: every matched change caption describes the new shot only, not the one before.
    assert report["strategies"]["selective"]["captions_after_cut"] == {"matched": sel["matched"], "after_cut": sel["matched"]}
    assert video["baseline_vlm"]["decodes"] == video["clips"]


def test_the_shot_detectors_run_on_the_same_video_and_are_scored_alike(bench):
    _, report, _, truth = bench
    (video,) = report["videos"]
    for name in PEERS:
        peer = video["strategies"][name]
        # A slideshow's cuts are what shot detectors are built for: each finds every one of them.
        assert peer["boundary_claims"] == len(truth["boundaries"]) and peer["recall"] == 1.0, name
        assert peer["decodes"] == peer["boundary_claims"] + 1  # the start, then one per cut
        assert peer["wall_s"] > 0 and peer["lag_s"] is not None and abs(peer["lag_s"]) <= 0.5


def test_the_terminal_shows_a_summary_and_stderr_the_progress(bench):
    result, _, _, _ = bench
    assert "fewer decodes than uniform 1 Hz" in result.stdout and "report:" in result.stdout
    assert "scenes:" in result.stderr and "baseline VLM (random weights)" in result.stderr
    assert "peers pyscenedetect_content" in result.stderr
    for i, name in enumerate(("pyscenedetect_content", "pyscenedetect_adaptive", "transnetv2"), 1):
        assert f": running peer {name} ({i}/3)\n" in result.stderr  # each peer says when it starts: they take time
    assert "pyscenedetect:" not in result.stderr and "[PySceneDetect]" not in result.stderr  # its INFO lines stay out
    rows = [line for line in result.stdout.splitlines() if " decodes (" in line]
    assert len(rows) >= 5 and len({line.index(": ") for line in rows}) == 1  # the names line up
    assert len({line.index(" F1 ") for line in rows}) == 1 and len({line.index(" lag ") for line in rows}) == 1


def test_user_errors_are_one_line_and_exit_2(tmp_path, scene_video):
    video, _ = scene_video
    missing = jepa_stream("bench", tmp_path / "nope.mp4", "--out", tmp_path / "o")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert missing.stderr.startswith("jepa-stream: error: ") and "no such file" in missing.stderr
    bad_gt = tmp_path / "gt.json"
    bad_gt.write_text("[1, 2]")
    for args in (["--gt", bad_gt], ["--gt", bad_gt, bad_gt], ["--uniform-rates", "x"], ["--baseline-clips", "0"]):
        r = jepa_stream("bench", video, "--out", tmp_path / "o", *args)
        assert r.returncode == 2 and r.stderr.startswith("jepa-stream: error: "), (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0, r.stderr


def test_replay_runs_the_baseline_side_by_side_and_reports_its_lag(photos, tmp_path, one_thread):
    from videokit import Shot, write_video

    video = tmp_path / "short.mp4"
    write_video(video, [Shot(photos["chelsea"], 4.0), Shot(photos["rocket"], 4.0)], size=(320, 180))
    r = jepa_stream("replay", video, "--config", one_thread, "--baseline", "vlm", "--baseline-weights", "random:tiny", "--baseline-max-new-tokens", "4")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    baseline = [line for line in lines if "  baseline  " in line]
    selective = [line for line in lines if "  start  " in line or "  change  " in line]
    assert baseline and selective and all("random weights: token ids" in line for line in baseline)
    assert "baseline VLM (random weights" in r.stderr and "lag behind the stream" in r.stderr
    bad = jepa_stream("replay", video, "--baseline", "vlm", "--baseline-weights", tmp_path / "no-model-here")
    assert bad.returncode == 2 and bad.stderr.startswith("jepa-stream: error: cannot load VLM weights")


def test_baseline_weights_that_cannot_load_fail_before_the_pass(scene_video, tmp_path):
    video, _ = scene_video
    r = jepa_stream("bench", video, "--out", tmp_path / "o", "--baseline", "vlm", "--baseline-weights", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("jepa-stream: error: cannot load VLM weights")
    assert "scenes:" not in r.stderr  # nothing was analysed
