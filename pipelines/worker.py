"""A worker's camera hand-over: the run loop analyses exactly the cameras its leases allow.

Exports :func:`worker_seat`, :class:`WorkerSeat`, :class:`LeaseFence`, :class:`CameraHandover`
and :class:`Leases`.

``jepa-stream run --bus`` (:mod:`pipelines.cli.analyse`) takes a :func:`worker_seat`: a
:class:`~streamer.cluster.keeper.LeaseKeeper` on its own connection, and two things for the run:

- :meth:`LeaseFence.publish`, the publish path with the lease fence: an event of a camera
  whose lease was not renewed within two thirds of the timeout is held back (so a worker paused
  past its lease publishes nothing for it once it runs again, before its keeper thread does), and
  every ``caption`` and ``status`` event it lets through names the ``worker``;
- :class:`CameraHandover` (from :meth:`WorkerSeat.hand_over`), a
  :class:`~pipelines.core.observers.RunObserver` the composition root lists with the others:
  between two batches (``on_step``, on the loop's thread) it asks the
  :class:`~pipelines.core.observers.RunView` to drop at once a camera whose lease is lost, to
  release a camera beyond the fair share at its clip boundary, and to start a camera newly held
  (its capture and its :class:`~pipelines.core.selective.SelectivePipeline`), and holds the run
  open while cameras may still come. Each change is a ``status`` event (a
  :class:`~streamer.capture.status.SourceStatus`), ``assigned`` or ``released``, naming the worker.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Protocol

from pipelines.config import Config
from pipelines.core.observers import RunObserver, RunView
from pipelines.core.selective import ClipResult, SelectivePipeline
from pipelines.errors import UsageError
from streamer.capture.source_spec import SourceSpec
from streamer.capture.status import SourceState, SourceStatus
from streamer.cluster.keeper import LeaseKeeper
from streamer.feed.events import status_event
from streamer.feed.nats_link import NatsLink
from streamer.feed.protocol import EventType

__all__ = ["worker_seat", "WorkerSeat", "LeaseFence", "CameraHandover", "Leases"]

log = logging.getLogger(__name__)

#: Event types that name the worker that published them.
_SIGNED = (EventType.CAPTION.value, EventType.STATUS.value)


class Leases(Protocol):
    """What the hand-over reads of the lease keeper (:class:`~streamer.cluster.keeper.LeaseKeeper`)."""

    worker: str

    def held(self) -> frozenset[str]: ...

    def excess(self) -> frozenset[str]: ...

    def fresh(self, camera: str) -> bool: ...

    def release(self, camera: str) -> None: ...


class WorkerSeat:
    """A worker's place in the site: its lease ``keeper`` and its publish path behind the ``fence``.
    :meth:`hand_over` gives the run its camera hand-over (a run observer)."""

    def __init__(self, keeper: LeaseKeeper, fence: LeaseFence, specs: Sequence[SourceSpec], release_after_s: float):
        self.keeper, self.fence, self.publish = keeper, fence, fence.publish
        self.specs, self.release_after_s = {s.id: s for s in specs}, release_after_s
        self.handover: CameraHandover | None = None

    def hand_over(self, make_pipeline: Callable[[str], SelectivePipeline]) -> CameraHandover:
        """The run observer that keeps the run's sources on the held cameras (the seat closes it)."""
        self.handover = CameraHandover(self.keeper, self.specs, make_pipeline, self.publish, self.release_after_s)
        return self.handover


@contextlib.contextmanager
def worker_seat(config: Config, specs: Sequence[SourceSpec], publish: Callable[[dict], dict | None]) -> Iterator[WorkerSeat]:
    """Join the site as a worker: a lease keeper for ``specs`` on its own connection to
    ``feed.bus.url``, and ``publish`` behind its fence. On leaving, the cameras still analysed
    get their ``released`` status, then every lease is handed back and the connection closes.
    Raises UsageError naming the engine or bucket that refuses it."""
    link = NatsLink(config.feed.bus, "jepa-stream worker leases").start()
    keeper = LeaseKeeper(link, [s.id for s in specs], config.cluster, replicas=config.feed.bus.stream_replicas)
    try:
        keeper.start()
    except ValueError as exc:
        link.close()
        raise UsageError(str(exc)) from None
    print(f"jepa-stream: worker {keeper.worker} sharing {len(specs)} sources on {link.label}", file=sys.stderr, flush=True)
    seat = WorkerSeat(keeper, LeaseFence(keeper, [s.id for s in specs], publish), specs, config.cluster.lease_timeout_s)
    try:
        yield seat
    finally:
        if seat.handover is not None:
            seat.handover.close()
        keeper.stop()
        link.close()


class LeaseFence:
    """The publish path of a worker: ``publish`` behind the lease fence of ``leases``.

    An event of one of ``sources`` other than ``status`` is held back (counted in ``fenced``)
    unless its lease is fresh; ``caption`` and ``status`` events get the ``worker`` field.
    """

    def __init__(self, leases: Leases, sources: Collection[str], publish: Callable[[dict], dict | None]):
        self.leases, self.sources, self._publish = leases, frozenset(sources), publish
        self.fenced = 0
        self._fenced_sources: set[str] = set()

    def publish(self, event: dict) -> dict | None:
        """Publish ``event`` unless the fence holds it back (then None)."""
        kind, source = event.get("type"), event.get("source")
        if kind != EventType.STATUS.value and source in self.sources and not self.leases.fresh(source):
            self.fenced += 1
            if source not in self._fenced_sources:  # one line per camera, until it is fresh again
                log.warning("%s: events of %s held back: its lease was not renewed in time", self.leases.worker, source)
                self._fenced_sources.add(source)
            return None
        self._fenced_sources.discard(source)
        if kind in _SIGNED:
            event = {**event, "worker": self.leases.worker}
        return self._publish(event)


class CameraHandover(RunObserver):
    """Keeps the run's sources equal to the cameras ``leases`` holds, through :class:`RunView`.

    ``specs``: every shared camera of the site, by id (the run's own sources are left alone).
    ``make_pipeline(source)`` builds a camera's pipeline. ``publish``: where its ``status``
    events go (the :class:`LeaseFence`). ``release_after_s``: how long a camera beyond the fair
    share waits for a clip boundary before it is released anyway (a source that delivers nothing
    has none); the lease timeout is a good value. The run is held open (it waits for cameras)
    until every camera of the site has ended here (files played to the end; live cameras never
    end): a shared camera that ended under another worker keeps this one waiting.
    """

    def __init__(self, leases: Leases, specs: Mapping[str, SourceSpec], make_pipeline: Callable[[str], SelectivePipeline],
                 publish: Callable[[dict], object], release_after_s: float):
        self.leases, self.specs, self.make_pipeline = leases, specs, make_pipeline
        self.publish, self.release_after_s = publish, release_after_s
        self._cameras: set[str] = set()  # the shared cameras the run analyses (or analysed to their end)
        self._completed: set[str] = set()  # cameras that completed a clip since the last step: their clip boundary
        self._excess_since: dict[str, float] = {}

    def on_start(self, run: RunView) -> None:
        run.hold_open(self)  # no camera yet: they come with the leases

    def on_clip(self, result: ClipResult) -> None:
        self._completed.add(result.source)

    def on_step(self, run: RunView) -> None:
        """Stop lost cameras, release excess ones at a clip boundary (at once if never started: a
        worker that claimed before it saw the others' heartbeats), start newly held ones."""
        completed, self._completed = self._completed, set()
        for camera in sorted(self._cameras - self.leases.held()):
            self._stop(run, camera, "lease lost")
        for camera in sorted(self.leases.excess() - self._cameras):  # held beyond the share, never started:
            self.leases.release(camera)  # no clip boundary will come for it, so let it go now
        now = time.monotonic()
        excess = self.leases.excess() & self._cameras
        self._excess_since = {c: self._excess_since.get(c, now) for c in excess}
        for camera in sorted(excess):
            if camera in completed or camera not in run.capture.active or now - self._excess_since[camera] > self.release_after_s:
                self._stop(run, camera, "fair share: another worker takes it")
                self.leases.release(camera)
        for camera in sorted(self.leases.held() - self._cameras - self.leases.excess()):  # after the releases
            run.add_source(self.specs[camera], self.make_pipeline(camera))
            self._cameras.add(camera)
            self._status(camera, SourceState.ASSIGNED, f"{camera}: analysed by {self.leases.worker}")
        ended = self._cameras - set(run.capture.active)
        run.hold_open(self, not ended >= self.specs.keys())

    def close(self) -> None:
        """The run ends: every camera still analysed is released (the keeper deletes the leases)."""
        for camera in sorted(self._cameras):
            self._status(camera, SourceState.RELEASED, f"{camera}: {self.leases.worker} is stopping")
        self._cameras.clear()

    def _stop(self, run: RunView, camera: str, why: str) -> None:
        run.remove_source(camera)
        self._cameras.discard(camera)
        self._excess_since.pop(camera, None)
        self._status(camera, SourceState.RELEASED, f"{camera}: released by {self.leases.worker} ({why})")

    def _status(self, camera: str, state: SourceState, detail: str) -> None:
        self.publish(status_event(SourceStatus(camera, state, detail)))
