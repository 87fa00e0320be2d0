"""The baseline (the VLM worker under "every clip"): never blocks the selective path, drops by a named policy, measures lag."""

import threading
import time

import numpy as np

from pipelines.vlm.baseline import BaselineObserver, baseline_event
from streamer.worker import OverflowPolicy
from testlimits import TIMEOUT_S


class SlowVLM:
    """Stands in for the model: each caption takes ``delay`` s until ``gate`` opens."""

    weights, note = "random", "fake"

    def __init__(self, delay=0.0):
        self.delay = delay
        self.gate = threading.Event()
        self.seen = []

    def caption(self, images):
        from models.vlm import VLMCaption

        self.gate.wait(TIMEOUT_S)
        time.sleep(self.delay)
        self.seen.append(int(images[-1][0, 0, 0]))
        return VLMCaption("1 2", (1, 2), "random", "fake", 1.0, 1.0, 2.0)

    def describe(self):
        return {"weights": "random", "note": "fake"}


def image(i):
    return np.full((4, 4, 3), i, np.uint8)


def test_submit_never_blocks_and_drop_oldest_keeps_the_newest_clips():
    vlm = SlowVLM()
    worker = BaselineObserver(vlm, max_queue=2, policy=OverflowPolicy.DROP_OLDEST).start()
    start = time.monotonic()
    for i in range(10):
        worker.submit("s", i * 0.5, i * 0.5 + 0.5, [image(i)])
    assert time.monotonic() - start < 0.5  # the model is stuck; the producer is not
    vlm.gate.set()
    worker.finish(drain=True, timeout=TIMEOUT_S)
    # One clip was taken before the gate, then only the two newest were kept.
    assert vlm.seen[-2:] == [8, 9] and worker.dropped == 10 - len(vlm.seen)
    assert worker.submitted == 10 and worker.captioned == len(vlm.seen)


def test_drop_newest_keeps_the_first_clips():
    vlm = SlowVLM()
    worker = BaselineObserver(vlm, max_queue=2, policy=OverflowPolicy.DROP_NEWEST).start()
    for i in range(6):
        worker.submit("s", 0, i, [image(i)])
    vlm.gate.set()
    worker.finish(drain=True, timeout=TIMEOUT_S)
    assert vlm.seen == sorted(vlm.seen) and vlm.seen[-1] <= 2 and worker.dropped >= 3


def test_lag_is_how_far_the_stream_head_is_past_the_captioned_clip():
    vlm = SlowVLM()
    results = []
    worker = BaselineObserver(vlm, results.append, max_queue=8).start()
    for i in range(4):
        worker.submit("s", i, i + 1.0, [image(i)])
    vlm.gate.set()
    worker.finish(drain=True, timeout=TIMEOUT_S)
    assert [r.lag_s for r in results][-1] == 0.0 and max(r.lag_s for r in results) >= 2.0
    event = baseline_event(results[0])
    assert event["type"] == "baseline_caption" and event["weights"] == "random" and event["note"] == "fake"
    summary = worker.summary()
    assert summary["captioned"] == 4 and summary["lag_s"]["max"] >= 2.0 and summary["policy"] == "drop_oldest"


def test_close_without_drain_drops_what_is_queued_and_ends_the_thread():
    vlm = SlowVLM()
    worker = BaselineObserver(vlm, max_queue=4).start()
    for i in range(4):
        worker.submit("s", 0, i, [image(i)])
    threading.Timer(0.2, vlm.gate.set).start()
    worker.finish(drain=False, timeout=TIMEOUT_S)
    assert not worker.is_alive() and worker.captioned + worker.dropped == 4


def test_an_observer_hands_every_clip_to_the_worker_and_every_caption_is_published(lite_models, photos, tmp_path):
    from pipelines.core.clips import ClipConfig
    from pipelines.core.drift import DriftConfig
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource
    from videokit import Shot, write_video

    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 3.0)], size=(160, 90))
    vlm = SlowVLM()
    vlm.gate.set()
    published = []
    observer = worker = BaselineObserver(vlm, lambda result: published.append(baseline_event(result)), max_queue=64).start()
    pipeline = SelectivePipeline("v", lite_models, ClipConfig(), DriftConfig())
    results = [r for f in VideoFileSource(video).frames() for r in pipeline.feed(f)]
    for result in results:
        observer.on_clip(result)
    worker.finish(drain=True, timeout=TIMEOUT_S)
    assert worker.submitted == len(results) == pipeline.stats.clips
    assert [e["t_end"] for e in published] == [r.t_end for r in results]
    assert all(e["type"] == "baseline_caption" for e in published)
