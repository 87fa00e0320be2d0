"""Outputs of the event bus: one interface, each output with its own thread and bounded queue.

Exports :class:`Sink`, :class:`QueuedSink`, :class:`JsonlSink`,
:class:`ConsoleSink`, :func:`format_caption`, :func:`format_status`,
:func:`format_baseline_caption` and :func:`format_enrichment`.

A sink has three methods: :meth:`~Sink.start`, :meth:`~Sink.emit` and :meth:`~Sink.stop`. The
:class:`~streamer.feed.bus.EventBus` calls ``emit`` on the publishing thread (the pipeline's) with
every event in seq order, already serialised once (an :class:`~streamer.feed.protocol.Outgoing`),
so ``emit`` must hand the event over and return. :class:`QueuedSink` is that hand-over: a
:class:`~streamer.worker.BoundedWorker` (a bounded queue with a named
:class:`~streamer.worker.OverflowPolicy` and one thread that writes). A new output
(MQTT, a message bus) is a subclass that implements :meth:`QueuedSink.write`, plus one line
where the outputs are listed (``pipelines/cli/analyse.py``, ``_outputs``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Protocol, TextIO

from streamer.feed.protocol import EventType, Outgoing
from streamer.worker import BoundedWorker, OverflowPolicy

__all__ = [
    "Sink",
    "QueuedSink",
    "JsonlSink",
    "ConsoleSink",
    "format_caption",
    "format_status",
    "format_baseline_caption",
    "format_enrichment",
]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """An output of the event bus."""

    name: str

    def start(self) -> None:
        """Get ready to take events (open what needs opening, start a thread)."""

    def emit(self, event: Outgoing) -> None:
        """Take one event; called on the publishing thread, so never block."""

    def stop(self) -> None:
        """Write what was taken, release everything; idempotent."""


class QueuedSink:
    """A sink whose :meth:`write` runs on its own thread, fed by a bounded queue.

    ``max_queue``: events waiting for :meth:`write` (default 4096); past it ``policy`` drops
    one and counts it in ``dropped``. :meth:`stop` writes everything still queued, then ends the
    thread; a sink that dropped events says how many in one warning. A :meth:`write` that
    raises is logged once and the sink stops writing (``failed`` holds why); the pipeline goes on.
    """

    name = "sink"

    def __init__(self, max_queue: int = 4096, policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST):
        self._worker: BoundedWorker[Outgoing] = BoundedWorker(self._write_one, max_queue=max_queue, policy=policy,
                                                              name=f"sink-{self.name}")
        self.written = 0
        self.failed: str | None = None

    @property
    def policy(self) -> OverflowPolicy:
        return self._worker.policy

    @property
    def dropped(self) -> int:
        """Events the policy dropped because the queue was full."""
        return self._worker.dropped

    def write(self, event: Outgoing) -> None:
        """Write one event (on the sink's thread)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`write` used, after the last write (on the stopping thread)."""

    def start(self) -> None:
        self._worker.start()

    def emit(self, event: Outgoing) -> None:
        self._worker.submit(event)

    def stop(self) -> None:
        self._worker.stop(drain=True)
        self.close()
        if self.dropped:
            log.warning("%s: %d events dropped (%s): the output could not keep up", self.name, self.dropped, self.policy.value)

    def _write_one(self, event: Outgoing) -> None:
        if self.failed is not None:
            return
        try:
            self.write(event)
            self.written += 1
        except Exception as exc:  # an output that fails must not stop the analysis
            self.failed = str(exc)
            log.error("%s: stopped writing: %s", self.name, exc)


class JsonlSink(QueuedSink):
    """Each logged event (caption, status, baseline caption, enrichment) as one line of JSON in ``path``,
    flushed line by line, so a run that dies later keeps every event it wrote.

    The file is opened by the constructor, so a path that cannot be written is an error before
    any work starts: an existing file is refused (OSError naming it; a restart never wipes an
    earlier run's events) unless ``overwrite`` is given, which truncates it. Nothing is dropped
    (``drop_newest`` past 65536 queued events would be counted and reported).
    """

    name = "events-out"

    def __init__(self, path: str | Path, overwrite: bool = False, max_queue: int = 65536):
        super().__init__(max_queue, OverflowPolicy.DROP_NEWEST)
        self.path = Path(path)
        try:
            self._file: TextIO | None = open(self.path, "w" if overwrite else "x", encoding="utf-8")
        except FileExistsError:
            raise OSError(f"{self.path}: cannot write events (the file exists; pass --overwrite to replace it, "
                          f"or choose another file)") from None
        except OSError as exc:
            raise OSError(f"{self.path}: cannot write events ({exc.strerror or exc})") from None

    def emit(self, event: Outgoing) -> None:
        if event.seq is not None:  # the logged types only: what a run's record is made of
            super().emit(event)

    def write(self, event: Outgoing) -> None:
        assert self._file is not None, "write after close"
        self._file.write(event.text + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ConsoleSink(QueuedSink):
    """One human line per event on the terminal: captions, baseline captions and enrichments on ``stdout``
    (``captions``), status changes on ``stderr`` (``status``). Past 1024 waiting lines the oldest
    are dropped: a terminal is for watching, the other outputs keep the record."""

    name = "console"

    def __init__(self, captions: bool = True, status: bool = True, stdout: TextIO | None = None, stderr: TextIO | None = None):
        super().__init__(1024, OverflowPolicy.DROP_OLDEST)
        self._captions, self._status = captions, status
        self._stdout, self._stderr = stdout, stderr

    def emit(self, event: Outgoing) -> None:
        wanted = {EventType.CAPTION: self._captions, EventType.BASELINE_CAPTION: self._captions, EventType.ENRICHMENT: self._captions,
                  EventType.STATUS: self._status}
        if wanted.get(event.type, False):
            super().emit(event)

    def write(self, event: Outgoing) -> None:
        if event.type is EventType.STATUS:
            print(format_status(event.message), file=self._stderr or sys.stderr, flush=True)
        elif event.type is EventType.BASELINE_CAPTION:
            print(format_baseline_caption(event.message), file=self._stdout or sys.stdout, flush=True)
        elif event.type is EventType.ENRICHMENT:
            print(format_enrichment(event.message), file=self._stdout or sys.stdout, flush=True)
        else:
            print(format_caption(event.message), file=self._stdout or sys.stdout, flush=True)


def format_caption(event) -> str:
    """One human line for a caption event: ``[  12.50 s] cam0  change  2.41  tabby (tiger cat, …)``."""
    others = ", ".join(label["text"] for label in event["labels"][1:3])
    tail = f" ({others})" if others else ""
    return f"[{event['t']:8.2f} s] {event['source']}  {event['reason']:<9} {event['drift']:.2f}  {event['text']}{tail}"


def format_status(event) -> str:
    """One human line for a status event: ``cam0: reconnecting — <detail>``."""
    return f"{event['source']}: {event['state']} — {event['detail']}"


def format_baseline_caption(event) -> str:
    """One human line for a ``baseline_caption`` event, saying what its weights are worth."""
    weights = "random weights: token ids" if event["weights"] == "random" else "pretrained"
    return (
        f"[{event['t']:8.2f} s] {event['source']}  baseline  ({weights}; {event['latency_ms']['total'] / 1e3:.1f} s, "
        f"lag {event['lag_s']:.1f} s)  {event['text']}"
    )


def format_enrichment(event) -> str:
    """One human line for an ``enrichment`` event: the VLM's text for caption ``seq``, or why there is none."""
    if event["state"] != "done":
        return f"[{event['t']:8.2f} s] {event['source']}  vlm #{event['caption_seq']} {event['state']}: {event['detail']}"
    weights = "random weights: token ids" if event["weights"] == "random" else "pretrained"
    return (f"[{event['t']:8.2f} s] {event['source']}  vlm #{event['caption_seq']} ({weights}; {event['latency_ms'] / 1e3:.1f} s, "
            f"lag {event['lag_s']:.1f} s)  {event['text']}")
