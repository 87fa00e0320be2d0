"""Several sources in one process: one capture thread each, merged for the pipeline thread.

Exports :class:`CaptureCounters`, :class:`MultiCapture` and :func:`make_source`.

Typical use (the pipeline thread is the caller)::

    with sigterm_as_interrupt(), MultiCapture(parse_sources(args.source), config, on_status=bus_publish) as cap:
        for item in cap:            # Frames of every source, then one EndOfStream per source
            ...

Leaving the ``with`` block (normally, on Ctrl-C or on SIGTERM with
:func:`streamer.capture.signals.sigterm_as_interrupt`) stops every thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from streamer.capture.thread import CaptureThread, FrameSource
from streamer.worker import OverflowPolicy
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.frames import EndOfStream, Frame
from streamer.capture.live import StreamSource, WebcamSource
from streamer.capture.reconnect import ReconnectingSource
from streamer.capture.status import SourceState, SourceStatus, StatusCallback
from streamer.capture.source_spec import SourceKind, SourceSpec
from streamer.capture.sources import VideoFileSource

__all__ = ["CaptureCounters", "MultiCapture", "make_source"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 1.5
"""How long :meth:`MultiCapture.stop` waits for capture threads by default."""

Item = Frame | EndOfStream


@dataclass(frozen=True)
class CaptureCounters:
    """Running totals for one source since start. ``since(earlier)`` gives a window's share.

    ``frames``: handed to the reader. ``dropped``: discarded by the buffer policy.
    ``stale``: handed over later than ``stale_after_s`` after capture (counted only for sources
    that drop, i.e. live ones and ``realtime`` files; a waiting file is late by design). ``connections``:
    successful opens (a file counts one once it delivers). ``captured``: sampled frames put in
    the buffer (those later dropped included). ``reconnects``: retries a live source scheduled
    after a failure (each ``reconnecting`` status).
    """

    frames: int = 0
    dropped: int = 0
    stale: int = 0
    connections: int = 0
    captured: int = 0
    reconnects: int = 0

    def since(self, earlier: CaptureCounters) -> CaptureCounters:
        return CaptureCounters(*(getattr(self, f.name) - getattr(earlier, f.name) for f in dataclasses.fields(self)))


def make_source(
    spec: SourceSpec,
    config: CaptureConfig,
    *,
    sample_fps: float,
    max_side: int,
    on_status: StatusCallback | None = None,
) -> FrameSource:
    """The source for ``spec``: a :class:`VideoFileSource` for files, otherwise a
    :class:`ReconnectingSource` around :class:`StreamSource` or :class:`WebcamSource`."""
    if spec.kind is SourceKind.FILE:
        return VideoFileSource(spec.target, spec.id, sample_fps=sample_fps, max_side=max_side)
    timeouts = dict(
        open_timeout_s=config.open_timeout_s,
        read_timeout_s=config.read_timeout_s,
        stall_timeout_s=config.stall_timeout_s,
    )
    if spec.kind is SourceKind.STREAM:

        def connect():
            return StreamSource(
                spec.target,
                spec.id,
                sample_fps=sample_fps,
                max_side=max_side,
                transport=config.rtsp_transport,
                probe_s=config.probe_s,
                **timeouts,
            )

    else:

        def connect():
            return WebcamSource(spec.target, spec.id, sample_fps=sample_fps, max_side=max_side, **timeouts)

    return ReconnectingSource(spec.id, connect, config, on_status)


class MultiCapture:
    """One :class:`CaptureThread` per source and a fair fan-in for one reader thread.

    Each source has its own buffer of ``buffer_size`` frames and policy (see
    :meth:`CaptureConfig.buffer_policy`), so a busy camera never pushes out another's frames;
    the fan-in holds nothing of its own and takes sources in turn. Every source ends with
    exactly one :class:`EndOfStream` (live sources only end when stopped or out of attempts).

    ``on_status`` receives a :class:`~streamer.capture.status.SourceStatus` (the feed's ``status``
    event is made of it by :func:`streamer.feed.events.status_event`): ``connected``, ``disconnected`` and
    ``reconnecting`` from live sources, ``connected`` when a file delivers its first frame, and
    ``ended`` or ``error`` when a source's stream ends (or ``ended`` when stopped). It is called
    from capture threads and the reader thread, one call at a time.
    ``source_factory`` replaces :func:`make_source` (same signature), for embedding other sources.
    A ``dynamic`` capture may start with no source; :meth:`add` and :meth:`remove` change its
    sources while it runs (a worker's cameras, :mod:`pipelines.worker`).
    """

    def __init__(
        self,
        specs: Sequence[SourceSpec],
        config: CaptureConfig | None = None,
        *,
        sample_fps: float = 4.0,
        max_side: int = 640,
        on_status: StatusCallback | None = None,
        source_factory: Callable[..., FrameSource] = make_source,
        dynamic: bool = False,
    ):
        if not specs and not dynamic:
            raise ValueError("no sources to capture")
        self._config = config or CaptureConfig()
        if not dynamic:
            self._config.check_sources({s.id for s in specs})
        self._dynamic = dynamic
        self._open_args = dict(sample_fps=sample_fps, max_side=max_side, on_status=self._emit)
        self._factory = source_factory
        self._on_status = on_status
        self._status_lock = threading.Lock()
        self._wake = threading.Condition()
        self._configs: dict[str, CaptureConfig] = {}
        self._specs: dict[str, SourceSpec] = {}
        self._sources: dict[str, FrameSource] = {}
        self._threads: dict[str, CaptureThread] = {}
        self._dropping: dict[str, bool] = {}
        self._active: list[str] = []  # round-robin order of sources not yet ended
        self._frames: dict[str, int] = {}
        self._stale: dict[str, int] = {}
        self._started = False
        for spec in specs:
            self._open(spec)

    def _open(self, spec: SourceSpec) -> CaptureThread:
        """Make ``spec``'s source and capture thread (not started) and join them to the fan-in."""
        cfg = self._configs[spec.id] = self._config.for_source(spec.id)
        self._specs[spec.id] = spec
        self._sources[spec.id] = self._factory(spec, cfg, **self._open_args)
        thread = self._threads[spec.id] = CaptureThread(
            self._sources[spec.id],
            buffer_size=cfg.buffer_size,
            policy=cfg.buffer_policy(spec.live),
            realtime=cfg.realtime and not spec.live,
            on_ready=self._notify,
        )
        self._dropping[spec.id] = thread.policy is OverflowPolicy.DROP_OLDEST
        self._active.append(spec.id)
        self._frames[spec.id] = self._stale[spec.id] = 0
        return thread

    def add(self, spec: SourceSpec) -> None:
        """Start capturing ``spec`` too (``dynamic`` captures; from the reader's thread).
        ``ValueError`` if a source with its id is already captured."""
        if spec.id in self._threads:
            raise ValueError(f"{spec.id}: already captured")
        with self._wake:
            thread = self._open(spec)
        if self._started:
            thread.start()
        self._notify()

    def remove(self, source: str, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop capturing ``source`` and forget it, with no status event (the caller says why):
        its frames still buffered are discarded. From the reader's thread, which waits up to
        ``timeout`` s for the capture thread (a live source blocked in a read finishes later, as
        in :meth:`stop`)."""
        cancel = getattr(self._sources.get(source), "cancel", None)
        if cancel is not None:
            cancel()
        thread = self._threads.get(source)
        if thread is not None:
            thread.stop(timeout=timeout)
        with self._wake:
            if source in self._active:
                self._active.remove(source)
            for table in (self._configs, self._specs, self._sources, self._threads, self._dropping, self._frames, self._stale):
                table.pop(source, None)

    @property
    def source_ids(self) -> list[str]:
        return list(self._threads)

    @property
    def active(self) -> list[str]:
        """Sources whose :class:`EndOfStream` has not been handed out yet, in source order."""
        return [sid for sid in self._threads if sid in self._active]

    def start(self) -> MultiCapture:
        for thread in self._threads.values():
            thread.start()
        self._started = True
        return self

    def get(self, timeout: float | None = None) -> Item | None:
        """The next frame or end marker from any source, taking sources in turn; waits up to
        ``timeout`` seconds (``None``: until one comes). ``None`` on timeout or once all ended
        (a ``dynamic`` capture waits even with no source: one may be added)."""
        try:
            return self._next(timeout)
        except RuntimeError as exc:
            # A stop signal's KeyboardInterrupt can land inside Condition.wait after it let the lock
            # go and before it can take it back (CPython runs signal handlers between bytecodes):
            # the ``with`` then fails to release a lock it no longer holds. The lock is free, so
            # the interrupt is what the caller must see, not this RuntimeError.
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise exc.__context__ from None
            raise

    def _next(self, timeout: float | None) -> Item | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            while self._active or self._dynamic:
                item = self._take(limit=1)
                if item:
                    return item[0]
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._wake.wait(remaining)
        return None

    def batch(self, timeout: float | None = None) -> list[Item]:
        """At least one item (waiting as :meth:`get` does) plus whatever other sources have
        ready right now, at most one per source: what an encoder can batch across cameras."""
        first = self.get(timeout)
        if first is None:
            return []
        with self._wake:
            return [first] + self._take(limit=len(self._active), skip=first.source)

    def __iter__(self) -> Iterator[Item]:
        """Every item of every source until all have ended."""
        while self._active:
            item = self.get()
            if item is not None:
                yield item

    def counters(self) -> dict[str, CaptureCounters]:
        """Running totals per source (see :class:`CaptureCounters`)."""
        out = {}
        for sid, thread in list(self._threads.items()):
            source = self._sources[sid]
            connections = getattr(source, "connections", int(self._frames[sid] > 0))
            out[sid] = CaptureCounters(self._frames[sid], thread.dropped, self._stale[sid], connections,
                                       thread.captured, getattr(source, "reconnects", 0))
        return out

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every source and thread, waiting at most ``timeout`` seconds in all.

        Sources waiting to retry, files and flowing streams stop at once. A live source blocked
        in a read (a frozen camera) finishes within ``read_timeout_s``; its thread is a daemon,
        so it never keeps the process alive, and the default ``timeout`` leaves the process half
        a second to exit within 2 s of Ctrl-C. Sources still running get ``ended``.
        """
        deadline = time.monotonic() + timeout
        for source in self._sources.values():
            cancel = getattr(source, "cancel", None)
            if cancel is not None:
                cancel()
        for thread in self._threads.values():  # ask them all first, then wait
            thread.stop(timeout=0)
        for thread in self._threads.values():
            thread.stop(timeout=max(0.0, deadline - time.monotonic()))
        with self._wake:
            for sid in self._active:
                if self._started:
                    self._emit(SourceStatus(sid, SourceState.ENDED, f"{sid}: stopped"))
            self._active.clear()
        alive = [sid for sid, t in self._threads.items() if t.is_alive()]
        if alive:
            log.warning("capture threads still finishing a read: %s", ", ".join(alive))

    def __enter__(self) -> MultiCapture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _take(self, limit: int, skip: str | None = None) -> list[Item]:
        """Up to ``limit`` ready items, one per source, in turn (call holding ``_wake``)."""
        taken: list[Item] = []
        for sid in list(self._active):
            if len(taken) >= limit:
                break
            if sid == skip:
                continue
            item = self._threads[sid].get(timeout=0)
            if item is None:
                continue
            self._active.remove(sid)
            if isinstance(item, EndOfStream):
                self._finish(item)
            else:
                self._active.append(sid)  # served: to the back of the line
                self._count(item)
            taken.append(item)
        return taken

    def _count(self, frame: Frame) -> None:
        sid = frame.source
        if self._frames[sid] == 0 and not self._specs[sid].live:
            self._emit(SourceStatus(sid, SourceState.CONNECTED, f"playing {self._specs[sid].label}"))
        self._frames[sid] += 1
        stale_after = self._configs[sid].stale_after_s
        if stale_after and self._dropping[sid] and time.time() - frame.wall_time > stale_after:
            self._stale[sid] += 1

    def _finish(self, eos: EndOfStream) -> None:
        if eos.error:  # the status event carries it to the user; the log only with -v
            log.info("%s", eos.error)
            self._emit(SourceStatus(eos.source, SourceState.ERROR, eos.error))
        else:
            self._emit(SourceStatus(eos.source, SourceState.ENDED, f"{eos.source}: end of stream"))

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _emit(self, status: SourceStatus) -> None:
        if self._on_status is None:
            return
        with self._status_lock:
            try:
                self._on_status(status)
            except Exception:
                log.exception("status callback failed for %s", status.source)
