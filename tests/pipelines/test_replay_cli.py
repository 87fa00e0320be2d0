"""`jepa-stream replay` and `run` end to end: real video, real models, real files, real exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logkit import damage_table_pages
from testlimits import TIMEOUT_S
from pipelines.bench import match_boundaries
from videokit import Shot, write_video

SCHEMAS = Path(__file__).resolve().parents[2] / "streamer" / "feed" / "schemas"


def jepa_stream(*args: str, timeout: float = 3 * TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def captions_of(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "caption"]


@pytest.fixture(scope="module")
def replayed(scene_video, tmp_path_factory):
    video, truth = scene_video
    out = tmp_path_factory.mktemp("replay")
    result = jepa_stream("replay", video, "--events-out", out / "events.jsonl", "--summary-json", out / "summary.json")
    events = read_events(out / "events.jsonl")
    return result, events, json.loads((out / "summary.json").read_text()), truth


def test_replay_succeeds_and_prints_a_summary(replayed):
    result, events, summary, _ = replayed
    assert result.returncode == 0, result.stderr
    assert "captions (caption/clip" in result.stdout and "x real time" in result.stdout
    assert summary["captions"] == len(captions_of(events)) and summary["error"] is None
    assert summary["media_s"] > 29
    # Which model ran: network, runtime and execution provider, in the JSON and the printed line.
    encoder = summary["encoder"]
    assert encoder["network"] == "lite" and encoder["runtime"] in ("onnx", "torch")
    assert encoder["provider"] == ("CPUExecutionProvider" if encoder["runtime"] == "onnx" else "cpu")
    assert f"encoder lite/{encoder['runtime']} on {encoder['provider']}" in result.stdout


def test_captions_land_at_the_scene_changes(replayed):
    _, events, summary, truth = replayed
    events = captions_of(events)
    changes = [e["t"] for e in events if e["reason"] == "change"]
    recall = len(match_boundaries(truth["boundaries"], changes)) / len(truth["boundaries"])  # -1 s … +2 s, one-to-one
    assert recall >= 0.8, (changes, truth["boundaries"])
    assert len(events) <= summary["clips"] / 3
    assert events[0]["reason"] == "start" and events[0]["t"] <= 1.0


def test_each_caption_describes_the_new_scene(replayed):
    _, events, _, truth = replayed
    events = captions_of(events)
    expected = [{"tabby", "tiger cat", "Egyptian cat"}, {"espresso", "cup", "coffee mug", "espresso maker"},
                {"missile", "projectile", "space shuttle", "drilling platform"}, {"tripod", "reflex camera"},
                {"espresso", "cup", "coffee mug", "espresso maker"}]
    starts = [0.0, *truth["boundaries"]]
    for event in events:
        scene = max(i for i, s in enumerate(starts) if s <= event["t_start"] + 1e-6)
        top3 = {label["text"] for label in event["labels"][:3]}
        assert top3 & expected[scene], (event["t"], event["text"], top3)


def test_every_event_line_follows_the_v1_schema(replayed):
    jsonschema = pytest.importorskip("jsonschema")
    _, events, _, _ = replayed
    for event in events:
        jsonschema.validate(event, json.loads((SCHEMAS / f"{event['type']}.json").read_text()))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["state"]) for e in (events[0], events[-1])] == [("status", "connected"), ("status", "ended")]
    captions = captions_of(events)
    ts = [e["t"] for e in captions]
    assert ts == sorted(ts)
    assert all(e["t_start"] < e["t_end"] == e["t"] for e in captions)


def test_a_missing_file_is_one_line_and_exit_2(tmp_path):
    result = jepa_stream("replay", tmp_path / "nope.mp4")
    assert result.returncode == 2
    assert result.stderr.strip() == f"jepa-stream: error: {tmp_path / 'nope.mp4'}: no such file"


def test_a_file_that_is_not_a_video_is_one_line_and_exit_2(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00\x01not a video" * 1000)
    result = jepa_stream("replay", bogus, "--events-out", tmp_path / "e.jsonl")
    assert result.returncode == 2
    assert result.stderr.startswith(f"jepa-stream: error: {bogus}: not a readable video")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_truncated_video_keeps_the_events_before_the_damage(scene_video, tmp_path):
    video, _ = scene_video
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 7 // 10])
    events_out = tmp_path / "events.jsonl"
    result = jepa_stream("replay", cut, "--events-out", events_out, "--quiet")
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("jepa-stream: error:")
    assert "cut.mp4" in error_lines[0] and "truncated" in error_lines[0]
    assert "Traceback" not in result.stderr
    events = read_events(events_out)
    captions = captions_of(events)
    assert len(captions) >= 3 and captions[0]["reason"] == "start"  # start + changes at 6 s and 12 s survive
    assert events[-1]["type"] == "status" and events[-1]["state"] == "error" and "truncated" in events[-1]["detail"]


def test_a_bad_config_key_is_named(scene_video, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("drift:\n  treshold: 0.2\n")
    result = jepa_stream("replay", scene_video[0], "--config", cfg)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"jepa-stream: error: {cfg}: drift.treshold: unknown key")


def test_an_unwritable_events_file_is_named(scene_video, tmp_path):
    result = jepa_stream("replay", scene_video[0], "--events-out", tmp_path / "no" / "such" / "dir.jsonl")
    assert result.returncode == 2
    assert "dir.jsonl: cannot write events" in result.stderr


def test_run_paces_a_file_and_prints_captions_as_they_come(photos, tmp_path):
    video = tmp_path / "two.mp4"
    write_video(video, [Shot(photos["chelsea"], 3.0), Shot(photos["coffee"], 3.0)], size=(320, 180))
    result = jepa_stream("run", "--source", video, "--events-out", tmp_path / "e.jsonl", "--no-feed")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and "start" in lines[0] and "change" in lines[1]
    default_log = Path(os.environ["HOME"]) / ".local" / "state" / "jepa-stream" / "events.sqlite"
    assert default_log.is_file()  # the run's default log, in the session's temporary home
    summary = result.stdout.splitlines()[-1]
    realtime_factor = float(summary.split("(")[1].split("x real time")[0])
    # Paced at the stream's rate: never faster than real time. How much slower a loaded machine makes
    # it is a speed figure (benchmarks/), not behaviour.
    assert realtime_factor <= 1.1


def test_an_event_log_held_by_another_process_is_named_with_its_pid(scene_video, tmp_path):
    from streamer.feed.eventlog import EventLogConfig, SqliteEventLog

    held = SqliteEventLog(EventLogConfig(path=str(tmp_path / "e.sqlite")))
    result = jepa_stream("replay", scene_video[0], "--event-log", tmp_path / "e.sqlite")
    held.close()
    assert result.returncode == 2
    assert result.stderr.startswith(f"jepa-stream: error: event log {tmp_path / 'e.sqlite'}: in use by process "
                                    f"{os.getpid()} ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_damaged_event_log_is_one_line(scene_video, tmp_path):
    log = tmp_path / "e.sqlite"
    log.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    result = jepa_stream("replay", scene_video[0], "--event-log", log)
    assert result.returncode == 2
    assert result.stderr.startswith(f"jepa-stream: error: event log {log}: not a usable SQLite database")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["replay", "run"])
def test_a_log_damaged_inside_its_pages_is_one_line_for_replay_and_run(command, scene_video, tmp_path):
    log = tmp_path / "e.sqlite"
    damage_table_pages(log)
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log:\n    path: {log}\n")
    args = ["--event-log", log] if command == "replay" else ["--no-feed", "--config", config, "--source"]
    result = jepa_stream(command, *args, scene_video[0]) if command == "run" else jepa_stream(command, scene_video[0], *args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"jepa-stream: error: event log {log}: not a usable SQLite database")
    assert "move this file aside" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert log.stat().st_size > 200 * 1000, "nothing was deleted"


def test_an_existing_events_file_is_kept_unless_overwrite_is_given(photos, tmp_path):
    video = tmp_path / "short.mp4"
    write_video(video, [Shot(photos["chelsea"], 2.0)], size=(320, 180))
    events_out = tmp_path / "events.jsonl"
    events_out.write_text('{"earlier": "run"}\n')
    refused = jepa_stream("replay", video, "--events-out", events_out, "--quiet")
    assert refused.returncode == 2 and events_out.read_text() == '{"earlier": "run"}\n'
    assert refused.stderr.strip() == (f"jepa-stream: error: {events_out}: cannot write events (the file exists; "
                                      f"pass --overwrite to replace it, or choose another file)")
    replaced = jepa_stream("replay", video, "--events-out", events_out, "--quiet", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert read_events(events_out)[0]["type"] == "status"


def test_a_summary_json_in_a_missing_folder_is_refused_before_the_analysis(scene_video, tmp_path):
    target = tmp_path / "missing" / "summary.json"
    result = jepa_stream("replay", scene_video[0], "--summary-json", target)
    assert result.returncode == 2
    assert result.stderr.strip() == f"jepa-stream: error: {target}: cannot write the summary (no folder {target.parent})"
    assert "clips" not in result.stdout


def test_a_still_image_or_a_one_frame_video_is_one_line_and_exit_2(photos, tmp_path):
    from PIL import Image

    still = tmp_path / "still.png"
    Image.fromarray(photos["chelsea"]).save(still)
    one_frame = tmp_path / "one.mp4"
    write_video(one_frame, [Shot(photos["chelsea"], 0.04)], size=(320, 180), fps=25)
    for video in (still, one_frame):
        result = jepa_stream("replay", video, "--quiet")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (f"jepa-stream: error: {video.stem}: nothing to analyse: 1 frame, 0.00 s of "
                                         f"media; one clip needs 2 s (clip.window_s)")
        assert "0 clips, 0 captions" in result.stdout, "the summary line is still printed"


def test_a_raw_h264_stream_is_analysed(photos, tmp_path):
    video = tmp_path / "raw.h264"
    write_video(video, [Shot(photos["chelsea"], 3.0)], size=(320, 180), fps=25)
    result = jepa_stream("replay", video)
    assert result.returncode == 0, result.stderr
    assert "5 clips, 1 caption (caption/clip" in result.stdout


def test_replay_says_it_leaves_the_config_files_cameras_alone(photos, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 2.5)], size=(320, 180))
    site = tmp_path / "site.yaml"
    site.write_text("sources:\n  - {id: door, url: rtsp://127.0.0.1:9/door}\n  - {id: yard, url: rtsp://127.0.0.1:9/yard}\n")
    result = jepa_stream("replay", video, "--quiet", "--config", site)
    assert result.returncode == 0, result.stderr
    assert (f"jepa-stream: note: replay analyses the video files it is given; the 2 sources: of {site} are for "
            f"`jepa-stream run`") in result.stderr
    assert result.stdout.startswith(f"{video.stem}: ")  # the video, not the cameras, was analysed
