"""The per-source pause: :class:`PauseObserver` asks :class:`RunView` to pause and resume sources
as a thread-safe wish set says (MQTT's ``detect/set``), and ``run_sources`` drops a paused
source's frames before its pipeline sees them."""

from pipelines.core.observers import PauseObserver, RunObserver
from pipelines.core.runner import run_sources
from pipelines.core.selective import PipelineStats
from streamer.capture.frames import Frame
from streamer.feed.controls import PausedSources


class Pipeline:
    """What the run loop asks of a pipeline here: take a frame (never asking for an encoding)."""

    def __init__(self):
        self.pushed, self.stats = [], PipelineStats()

    def push(self, frame, dropped):
        self.pushed.append(frame.pts)
        return []

    def complete(self, features, encode_ms):
        return []


class Counters:
    dropped = 0


class ScriptedCapture:
    """Hands out one scripted batch per call; with each, a change of the wishes (another thread's
    ``detect/set`` arriving while that batch is analysed)."""

    def __init__(self, wanted: PausedSources, script):
        self.wanted, self.script = wanted, list(script)

    @property
    def active(self) -> bool:
        return bool(self.script)

    def batch(self, timeout):
        pts, wish = self.script.pop(0)
        if wish is not None:
            self.wanted.set("a", detect=wish)
        return [Frame("a", 0, pts, 0.0, None), Frame("b", 0, pts, 0.0, None)]

    def counters(self):
        return {"a": Counters(), "b": Counters()}


class Paused(RunObserver):
    """Records what the run says is paused after each step."""

    def __init__(self):
        self.seen = []

    def on_step(self, run):
        self.seen.append(sorted(run.paused))


def test_a_pause_takes_effect_from_the_next_batch_and_a_resume_too():
    wanted = PausedSources()
    pipelines = {"a": Pipeline(), "b": Pipeline()}
    capture = ScriptedCapture(wanted, [(0.0, False), (1.0, True), (2.0, None)])
    paused = Paused()
    summaries = run_sources(capture, pipelines, lambda images: [], lambda event: event, [PauseObserver(wanted), paused])
    assert [s.source for s in summaries] == ["a", "b"] and not any(s.interrupted for s in summaries)
    assert paused.seen == [["a"], [], []]
    assert pipelines["a"].pushed == [0.0, 2.0]  # the frame at 1.0 came while "a" was paused
    assert pipelines["b"].pushed == [0.0, 1.0, 2.0]
