"""What an observer may change of a run through RunView: sources added and removed while it
runs (a worker's cameras), the run held open with no source, and a caption publish held back."""

from __future__ import annotations

import pytest

from pipelines.core.clips import ClipConfig
from pipelines.core.drift import DriftConfig
from pipelines.core.observers import RunObserver, RunView
from pipelines.core.runner import run_sources
from pipelines.core.selective import SelectivePipeline
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.multicapture import MultiCapture
from streamer.capture.source_spec import parse_sources
from videokit import Shot, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory, photos):
    """5 s, two shots: a caption at the start and one at the change."""
    path = tmp_path_factory.mktemp("view") / "v.mp4"
    write_video(path, [Shot(photos["chelsea"], 2.5), Shot(photos["rocket"], 2.5)], size=(160, 96), fps=10)
    return path


class Cameras(RunObserver):
    """Adds ``a`` and ``b`` at the first step, removes ``b`` after its first clip, and holds the
    run open until ``a`` ended; records every caption it is shown."""

    def __init__(self, video, models):
        self.video, self.models = video, models
        self.clips: dict[str, int] = {}
        self.captions: list[str] = []
        self.removed = False

    def on_start(self, run: RunView) -> None:
        run.hold_open(self)

    def on_clip(self, result) -> None:
        self.clips[result.source] = self.clips.get(result.source, 0) + 1

    def on_caption(self, event, result) -> None:
        self.captions.append(event["source"])

    def on_step(self, run: RunView) -> None:
        if not run.pipelines and not self.clips:
            for sid in ("a", "b"):
                run.add_source(parse_sources([f"{sid}={self.video}"])[0],
                               SelectivePipeline(sid, self.models, ClipConfig(), DriftConfig()))
        if self.clips.get("b") and not self.removed:
            run.remove_source("b")
            self.removed = True
        if self.clips.get("a") and "a" not in run.capture.active:
            run.hold_open(self, False)


def test_an_observer_adds_and_removes_sources_and_holds_the_run_open(lite_models, video):
    cameras = Cameras(video, lite_models)
    published = []

    def publish(event):  # b's captions are held back, as a worker's lease fence does
        published.append(event)
        return None if event["source"] == "b" else {**event, "seq": len(published)}

    with MultiCapture([], CaptureConfig(realtime=False), sample_fps=4.0, max_side=96, dynamic=True) as capture:
        summaries = run_sources(capture, {}, lite_models.encode_frames, publish, [cameras])

    assert [s.source for s in summaries] == ["a"]  # b was removed: no summary
    assert summaries[0].clips == cameras.clips["a"] >= 4 and summaries[0].error is None
    assert cameras.clips["b"] >= 1 and cameras.removed
    a_captions = [e for e in published if e["source"] == "a"]
    assert [e["reason"] for e in a_captions] == ["start", "change"]
    assert any(e["source"] == "b" and e["type"] == "caption" for e in published)
    assert cameras.captions == ["a", "a"]  # a caption held back reaches no on_caption
