"""Scene intervals: captions (points in time) turned into scenes (states with a start and an end).

Exports :class:`SceneTracker` and :class:`ScenePublisher`.

:class:`SceneTracker` is sans-I/O: it is fed every event as published (with its ``seq``) and
returns the ``scene`` events that follow from it:

* a caption of reason ``start``, ``change`` or ``resume`` (a decision; ``resume``: the source is
  back after a gap in coverage, so what it shows may be another scene) ends the source's open
  scene (``end``, ``end_time`` = the decision's media time) and opens a new one (``new``);
* a ``heartbeat`` caption is no change of meaning: the open scene gets an ``update`` with the
  fresh caption (and snapshot);
* an ``enrichment`` (``done``) of a caption of the open scene, or of the scene that just ended,
  is an ``update`` carrying the VLM's text as ``description``;
* a ``status`` ``ended`` or ``error`` ends the open scene at the last media time seen for the
  source (any event's ``t``); :meth:`SceneTracker.close` ends every open scene (run's end).

Scenes are identified by ``<source>-<seq of the opening caption>``, unique in the durable log.
A caption published without its seq yet (queued in a ``run --bus`` worker's outbox: the engine
numbers it later, which is also why the ``vlm`` decoder does not run there) opens and updates no
scene, so a worker on the engine publishes no scene events.
The tracker holds at most two scenes per source (the open one and the one that ended last).
:class:`ScenePublisher` wraps the bus's ``publish`` with a tracker, so a ``scene`` event is in
the log right after the caption that made it (and an ``end`` right before the ``status`` that
caused it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from streamer.capture.signals import stop_deferred
from streamer.feed.events import scene_event
from streamer.feed.protocol import EventType

__all__ = ["SceneTracker", "ScenePublisher"]

_DECISIONS = ("start", "change", "resume")  # caption reasons that open a scene
_CLOSING = ("ended", "error")  # status states that end a source's scene


class SceneTracker:
    """The open scene of each source, and the scene events each published event implies."""

    def __init__(self) -> None:
        self._open: dict[str, dict] = {}  # source -> the open scene's state
        self._last_ended: dict[str, dict] = {}  # source -> the scene that ended last
        self._last_t: dict[str, float] = {}

    def feed(self, event: Mapping[str, Any]) -> list[dict]:
        """The scene events that follow ``event`` (a published event, with ``seq`` when logged)."""
        source = event["source"]
        if isinstance(event.get("t"), (int, float)):
            self._last_t[source] = max(self._last_t.get(source, float("-inf")), float(event["t"]))
        kind = event.get("type")
        if kind == EventType.CAPTION.value:
            return self._caption(event) if event.get("seq") is not None else []  # not numbered yet: no scene id
        if kind == EventType.ENRICHMENT.value and event.get("state") == "done":
            return self._enrichment(event)
        return []

    def before_status(self, event: Mapping[str, Any]) -> list[dict]:
        """The scene events to publish before a ``status`` event: ``end`` when its source ends."""
        if event.get("type") != EventType.STATUS.value or event.get("state") not in _CLOSING:
            return []
        return self._end(event["source"], self._last_t.get(event["source"]))

    def close(self) -> list[dict]:
        """End every open scene (the run is over)."""
        return [scene for source in list(self._open) for scene in self._end(source, self._last_t.get(source))]

    def _caption(self, caption: Mapping[str, Any]) -> list[dict]:
        source, t = caption["source"], caption["t"]
        scene = self._open.get(source)
        if scene is not None and caption.get("reason") not in _DECISIONS:
            scene.update(caption=caption["text"], labels=caption["labels"], snapshot=caption.get("snapshot", scene["snapshot"]),
                         last_caption_seq=caption["seq"])
            return [scene_event(scene, "update", t)]
        out = self._end(source, t)
        scene = {"source": source, "id": f"{source}-{caption['seq']}", "caption_seq": caption["seq"],
                 "last_caption_seq": caption["seq"], "start_time": t, "end_time": None, "caption": caption["text"],
                 "labels": caption["labels"], "snapshot": caption.get("snapshot"), "description": None}
        self._open[source] = scene
        return [*out, scene_event(scene, "new", t)]

    def _enrichment(self, enrichment: Mapping[str, Any]) -> list[dict]:
        source, seq = enrichment["source"], enrichment["caption_seq"]
        for scene in (self._open.get(source), self._last_ended.get(source)):
            if scene is not None and scene["caption_seq"] <= seq <= scene["last_caption_seq"]:
                scene["description"] = enrichment["text"]
                return [scene_event(scene, "update", enrichment["t"])]
        return []

    def _end(self, source: str, t: float | None) -> list[dict]:
        scene = self._open.pop(source, None)
        if scene is None:
            return []
        scene["end_time"] = max(scene["start_time"], t if t is not None else scene["start_time"])
        self._last_ended[source] = scene
        return [scene_event(scene, "end", scene["end_time"])]


class ScenePublisher:
    """``publish`` with scene intervals: call it instead of the bus's ``publish`` (any thread).

    Each event is published, then the scene events it implies (a ``status`` that ends a source
    is published after its scene's ``end``); one lock keeps each group together and in order, and
    a stop signal (Ctrl-C, SIGTERM) waits for the group to end (:func:`stop_deferred`), so no
    event is logged without reaching the outputs and no caption without its scene.
    Returns what ``publish`` returned for the event itself. A scene names the seq of its captions,
    so an event that comes back without one implies no scene: one held back by a worker's lease
    fence (None), or queued for a JetStream engine that has not acknowledged it yet (a ``--bus``
    worker learns seqs only from the engine, so it makes no scenes; docs/SCALING.md).
    """

    def __init__(self, publish: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> None:
        self._publish = publish
        self._tracker = SceneTracker()
        self._lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        with self._lock, stop_deferred():  # a stop signal waits for the whole group
            for scene in self._tracker.before_status(event):
                self._publish(scene)
            sent = self._publish(event)
            for scene in self._tracker.feed(sent) if sent is not None else ():  # None: held back by a lease fence
                self._publish(scene)
            return sent

    def close(self) -> None:
        """Publish the ``end`` of every open scene (when the run ends, before the log closes)."""
        with self._lock, stop_deferred():
            for scene in self._tracker.close():
                self._publish(scene)
