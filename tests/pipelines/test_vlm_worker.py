"""The one VLM worker under its two admission policies: waiting producers, failures, the end."""

import threading
import time

import numpy as np

from models.vlm import VLMCaption
from pipelines.decoder_config import VLMDecoderConfig
from pipelines.vlm.admission import CaptionOffer, ClipJob, EveryClip, OnCaption
from pipelines.vlm.worker import VLMWorker, caption_each
from streamer.worker import OverflowPolicy
from testlimits import TIMEOUT_S


class GatedVLM:
    """Each caption waits for ``gate``; an image of value 255 makes the model raise."""

    weights, note = "random", "stand-in"

    def __init__(self):
        self.gate = threading.Event()
        self.seen = []

    def caption(self, images, *, prompt=None, max_time_s=None):
        assert self.gate.wait(TIMEOUT_S)
        value = int(images[-1][0, 0, 0])
        if value == 255:
            raise RuntimeError("bad frame\nsecond line")
        self.seen.append((value, prompt, max_time_s))
        return VLMCaption(str(value), (value,), "random", "stand-in", 1.0, 1.0, 2.0)


def clip(i, prompt=None):
    return ClipJob("s", float(i), float(i) + 1.0, (np.full((4, 4, 3), i, np.uint8),), time.monotonic(), prompt)


def test_wait_makes_the_producer_wait_for_room_and_drops_nothing():
    vlm, results = GatedVLM(), []
    admission = EveryClip(max_queue=1, policy=OverflowPolicy.WAIT)
    worker = VLMWorker(vlm, admission, results.append).start()
    producer = threading.Thread(target=lambda: [worker.submit(clip(i)) for i in range(5)])
    producer.start()
    vlm.gate.set()
    producer.join(TIMEOUT_S)
    assert worker.wait_idle(TIMEOUT_S)
    assert [v for v, _, _ in vlm.seen] == [0, 1, 2, 3, 4] and admission.dropped == 0
    assert [r.state for r in results] == ["done"] * 5 and all(r.cpu_s >= 0 and r.wall_lag_s >= 0 for r in results)
    assert worker.close(TIMEOUT_S) == []


def test_a_failing_model_and_a_failing_callback_do_not_stop_the_worker():
    vlm, results = GatedVLM(), []
    vlm.gate.set()

    def on_result(result):
        results.append(result)
        if result.job.t_start == 1.0:
            raise ValueError("a sink failed")

    worker = VLMWorker(vlm, EveryClip(8, OverflowPolicy.WAIT), on_result, max_time_s=5.0).start()
    for i in (255, 1, 2):
        worker.submit(clip(i, prompt="p"))
    assert worker.wait_idle(TIMEOUT_S)
    assert [r.state for r in results] == ["failed", "done", "done"]
    assert results[0].error == "RuntimeError: bad frame" and results[0].caption is None
    assert vlm.seen == [(1, "p", 5.0), (2, "p", 5.0)]  # the job's prompt and the worker's time limit
    worker.close(TIMEOUT_S)


def test_close_returns_what_will_get_no_result_and_hands_nothing_over_after():
    vlm, results = GatedVLM(), []
    admission = OnCaption(VLMDecoderConfig(max_per_minute=0, max_pending=4))
    worker = VLMWorker(vlm, admission, results.append).start()
    for source in ("a", "b", "c"):
        frame = np.full((4, 4, 3), 7, np.uint8)
        assert worker.submit(CaptionOffer(source, 1, 1.0, 3.0, frame, time.monotonic())).admitted
    assert len(worker.close(0.0)) == 3 and len(admission) == 0  # waiting or running: none will get a result
    assert worker.submit(CaptionOffer("a", 2, 2.0, 3.0, np.zeros((4, 4, 3), np.uint8), time.monotonic())).turned_away[0][1] \
        == "the run ended before the VLM was free"
    vlm.gate.set()
    worker.join(TIMEOUT_S)
    assert not worker.is_alive() and results == []


def test_caption_each_runs_offers_one_at_a_time_in_order():
    vlm = GatedVLM()
    vlm.gate.set()
    results = list(caption_each(vlm, EveryClip(1, OverflowPolicy.WAIT), [clip(3), clip(255), clip(5)]))
    assert [(r.job.t_start, r.state) for r in results] == [(3.0, "done"), (255.0, "failed"), (5.0, "done")]
