"""The vlm decoder's worker: the real tiny SmolVLM (random weights), coalescing, timeout, failure, the budget."""

import os
import threading
import time

import jsonschema
import numpy as np
import pytest

from models.vlm import VLMCaption
from pipelines.decoder_config import VLMDecoderConfig
from pipelines.vlm.enrichment import EnrichmentObserver, start_enrichment
from pipelines.errors import UsageError
from pipelines.core.selective import ClipResult
from streamer.capture.frames import Frame
from streamer.feed.events import stats_event
from streamer.feed.protocol import load_schema
from testlimits import TIMEOUT_S


class GatedVLM:
    """Stands in for the model where a test must hold the worker inside a call: each caption
    waits for ``gate``; ``entered`` says the worker is inside one."""

    weights, note = "random", "stand-in"

    def __init__(self):
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen = []  # (pixel value of the newest image, prompt)
        self.images = []  # pixel values of every image shown, per call

    def caption(self, images, *, prompt=None, max_time_s=None):
        self.entered.set()
        assert self.gate.wait(TIMEOUT_S)
        self.seen.append((int(images[-1][0, 0, 0]), prompt))
        self.images.append([int(im[0, 0, 0]) for im in images])
        return VLMCaption(f"text {images[-1][0, 0, 0]}", (1, 2), "random", "stand-in", 1.0, 1.0, 2.0)

    def describe(self):
        return {"source": "gated stand-in", "weights": "random", "note": "stand-in"}


class Published:
    """Collects events from any thread; :meth:`wait_for` returns once ``n`` have come."""

    def __init__(self):
        self.events = []
        self._cond = threading.Condition()
        self._seq = 0

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        return event

    def wait_for(self, n):
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= n, TIMEOUT_S), self.events
        return self.events


def caption_of(seq, t, drift=3.0, source="cam0", value=None, size=(48, 64)):
    """A published caption (as the bus returns it) and its clip result with one frame."""
    image = np.full((*size, 3), seq if value is None else value, np.uint8)
    frame = Frame(source, seq, t, time.time(), image)
    message = {"type": "caption", "seq": seq, "source": source, "t": t, "drift": drift}
    result = ClipResult(source, t - 2.0, t, np.zeros(4), drift, threshold=1.0, step_ms=1.0, caption=None, caption_frames=(frame,))
    return message, result


def states(events):
    return [(e["caption_seq"], e["state"]) for e in events]


@pytest.fixture(scope="module")
def tiny_decoder():
    """The real Idefics3 classes at the ``tiny`` preset, random weights, as the CLI builds them."""
    published = Published()
    config = VLMDecoderConfig(weights="random", preset="tiny", max_new_tokens=5, max_per_minute=0)
    observer = start_enrichment(config, published)
    follow, stats, finish = observer.on_caption, observer.decoder_stats, observer.close
    yield follow, stats, finish, published
    finish()


def test_the_tiny_random_vlm_enriches_each_caption_and_says_it_is_random(tiny_decoder):
    follow, stats, _, published = tiny_decoder
    follow(*caption_of(1, 0.5))
    first = published.wait_for(1)[0]
    follow(*caption_of(2, 10.0))
    second = published.wait_for(2)[1]
    for event in (first, second):
        jsonschema.validate({**event, "seq": 9}, load_schema("enrichment"))
        assert event["state"] == "done" and event["weights"] == "random" and "random weights" in event["note"]
        assert len(event["text"].split()) == event["tokens"] == 5  # token ids, exactly max_new_tokens
        assert event["latency_ms"] > 0 and event["lag_s"] >= 0 and event["cpu_s"] >= 0
        assert event["model"] == "tiny architecture, random init"
    assert (first["caption_seq"], first["t"], first["change"]) == (1, 0.5, False)
    assert (second["caption_seq"], second["change"]) == (2, True)  # shown caption 1's frame too
    figures = stats("cam0")
    assert figures["done"] == 2 and figures["admitted"] == 2 and figures["budget_per_minute"] == 0
    jsonschema.validate(stats_event("cam0", _NoStats(), decoder=figures), load_schema("stats"))


class _NoStats:
    frames = clips = decodes = 0
    first_t, last_t, media_s = None, 0.0, 0.0

    def percentile(self, which, q):
        return 0.0


def test_a_burst_is_coalesced_the_newest_wins_and_every_caption_gets_one_enrichment():
    vlm, published = GatedVLM(), Published()
    worker = EnrichmentObserver(vlm, published, VLMDecoderConfig(max_per_minute=0, change_prompt="")).start()
    worker.follow(*caption_of(1, 1.0))
    assert vlm.entered.wait(TIMEOUT_S)  # the worker holds caption 1
    assert os.getpriority(os.PRIO_PROCESS, worker.worker.native_id) == VLMDecoderConfig().nice  # the pipeline goes first
    start = time.monotonic()
    for seq in range(2, 7):  # a burst while the model is busy
        worker.follow(*caption_of(seq, float(seq)))
    assert time.monotonic() - start < 1.0  # the caller never waits for the model
    assert states(published.events) == [(2, "skipped"), (3, "skipped"), (4, "skipped"), (5, "skipped")]
    assert "superseded by caption seq 3" in published.events[0]["detail"]
    assert worker.decoder_stats("cam0")["pending"] == 1 and worker.decoder_stats("cam0")["coalesced"] == 4
    vlm.gate.set()
    events = published.wait_for(6)
    assert sorted(states(events)) == [(1, "done"), (2, "skipped"), (3, "skipped"), (4, "skipped"), (5, "skipped"), (6, "done")]
    assert [v for v, _ in vlm.seen] == [1, 6]  # the newest of the burst, not the oldest
    assert worker.finish(wait_s=TIMEOUT_S) == 0


def test_waiting_sources_are_bounded_by_max_pending():
    vlm, published = GatedVLM(), Published()
    worker = EnrichmentObserver(vlm, published, VLMDecoderConfig(max_per_minute=0, max_pending=2)).start()
    worker.follow(*caption_of(1, 1.0, source="a"))
    assert vlm.entered.wait(TIMEOUT_S)
    for seq, source in ((2, "b"), (3, "c"), (4, "d")):
        worker.follow(*caption_of(seq, 1.0, source=source))
    assert states(published.events) == [(2, "skipped")]  # the oldest waiting source made room
    assert "max_pending" in published.events[0]["detail"]
    vlm.gate.set()
    assert sorted(states(published.wait_for(4))) == [(1, "done"), (2, "skipped"), (3, "done"), (4, "done")]
    worker.finish(wait_s=TIMEOUT_S)


def test_a_change_prompt_shows_the_previous_captions_frame_first():
    vlm, published = GatedVLM(), Published()
    vlm.gate.set()
    config = VLMDecoderConfig(max_per_minute=0)
    worker = EnrichmentObserver(vlm, published, config).start()
    worker.follow(*caption_of(1, 1.0, value=10))
    published.wait_for(1)
    worker.follow(*caption_of(2, 5.0, value=20))
    published.wait_for(2)
    assert vlm.images == [[10], [10, 20]]
    assert [p for _, p in vlm.seen] == [config.prompt, config.change_prompt]
    worker.finish(wait_s=TIMEOUT_S)


def test_a_timeout_is_reported_and_generation_really_stops(tiny_vlm_config):
    published = Published()
    config = VLMDecoderConfig(**{**tiny_vlm_config, "max_new_tokens": 200, "timeout_s": 1e-9})
    observer = start_enrichment(config, published)
    follow, finish = observer.on_caption, observer.close
    follow(*caption_of(7, 3.0))
    (event,) = published.wait_for(1)
    finish()
    jsonschema.validate({**event, "seq": 8}, load_schema("enrichment"))
    assert event["state"] == "timeout" and event["text"] is None and event["caption_seq"] == 7
    assert event["tokens"] < 200 and "timeout_s" in event["detail"] and "\n" not in event["detail"]


def test_a_failing_model_is_reported_in_one_line_and_the_worker_goes_on(tiny_vlm_config, caplog):
    published = Published()
    observer = start_enrichment(VLMDecoderConfig(**tiny_vlm_config, change_prompt=""), published)
    follow, stats, finish = observer.on_caption, observer.decoder_stats, observer.close
    message, result = caption_of(1, 1.0)
    broken = Frame("cam0", 1, 1.0, time.time(), np.zeros((48, 64), np.uint8))  # no colour axis: the real model raises
    follow(message, ClipResult("cam0", 0.0, 1.0, np.zeros(4), 3.0, threshold=1.0, step_ms=1.0, caption=None, caption_frames=(broken,)))
    (failed,) = published.wait_for(1)
    follow(*caption_of(2, 9.0))
    events = published.wait_for(2)
    finish()
    assert failed["state"] == "failed" and failed["detail"].startswith("the VLM failed: ") and "\n" not in failed["detail"]
    jsonschema.validate({**failed, "seq": 3}, load_schema("enrichment"))
    assert (events[1]["caption_seq"], events[1]["state"]) == (2, "done")
    assert (stats("cam0")["failed"], stats("cam0")["done"]) == (1, 1)
    assert any("enrichment of caption seq 1" in r.getMessage() for r in caplog.records)


def test_over_budget_decisions_are_skipped_at_once_and_counted():
    vlm, published = GatedVLM(), Published()
    vlm.gate.set()
    worker = EnrichmentObserver(vlm, published, VLMDecoderConfig(max_per_minute=1, burst=1)).start()
    worker.follow(*caption_of(1, 0.0, drift=2.0))
    published.wait_for(1)
    worker.follow(*caption_of(2, 10.0, drift=5.0))  # no token yet (1 per minute)
    assert states(published.wait_for(2)) == [(1, "done"), (2, "skipped")] and "over budget" in published.events[1]["detail"]
    figures = worker.decoder_stats("cam0")
    assert (figures["spent_last_minute"], figures["admitted"], figures["over_budget"]) == (1, 1, 1)
    worker.finish(wait_s=TIMEOUT_S)


def test_close_waits_for_pending_then_skips_what_is_left():
    vlm, published = GatedVLM(), Published()
    worker = EnrichmentObserver(vlm, published, VLMDecoderConfig(max_per_minute=0)).start()
    worker.follow(*caption_of(1, 1.0))
    assert vlm.entered.wait(TIMEOUT_S)
    worker.follow(*caption_of(2, 2.0))
    assert worker.finish(wait_s=0.0) == 2  # the model is stuck: nothing more can come in time
    assert sorted(states(published.events)) == [(1, "skipped"), (2, "skipped")]
    assert all("the run ended" in e["detail"] for e in published.events)
    vlm.gate.set()  # the stuck generation ends; its text is not published after close
    worker.worker.join(TIMEOUT_S)
    assert not worker.worker.is_alive() and len(published.events) == 2
    assert worker.summary()["dropped"] == 2


def test_bad_weights_are_one_line_naming_the_key(tmp_path):
    with pytest.raises(UsageError, match=r"^model\.decoder\.vlm\.weights: cannot load VLM weights") as info:
        start_enrichment(VLMDecoderConfig(weights=str(tmp_path)), print)
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match=r"^model\.decoder\.vlm: unknown baseline preset 'huge'"):
        start_enrichment(VLMDecoderConfig(preset="huge"), print)


@pytest.fixture
def tiny_vlm_config():
    return {"weights": "random", "preset": "tiny", "max_new_tokens": 4, "max_per_minute": 0, "end_wait_s": TIMEOUT_S}


def test_pretrained_weights_with_a_processor_answer_the_change_prompt_over_two_frames(tmp_path):
    """The real-weight path (a checkpoint directory with its processor), offline, at a tiny size."""
    from vlmkit import save_tiny_pretrained_vlm

    save_tiny_pretrained_vlm(tmp_path)
    published = Published()
    observer = start_enrichment(VLMDecoderConfig(weights=str(tmp_path), max_new_tokens=4, max_per_minute=0), published)
    follow, finish = observer.on_caption, observer.close
    follow(*caption_of(1, 1.0, value=40))
    published.wait_for(1)
    follow(*caption_of(2, 8.0, value=200))
    first, second = published.wait_for(2)
    finish()
    for event in (first, second):
        jsonschema.validate({**event, "seq": 9}, load_schema("enrichment"))
        assert event["state"] == "done" and event["weights"] == "pretrained" and event["note"] is None
        assert event["model"] == str(tmp_path) and 1 <= event["tokens"] <= 4
    assert (first["change"], second["change"]) == (False, True)
