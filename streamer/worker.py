"""A bounded queue with a named overflow policy, and the one thread that drains such a queue.

Exports :class:`OverflowPolicy`, :class:`BoundedQueue` and :class:`BoundedWorker`.

Every hand-over between threads in jepa-stream is one of these: the capture thread fills a
:class:`BoundedQueue` that the run loop reads; the outputs (sinks), the VLM's worker (both its
uses) and the snapshot writer are each a :class:`BoundedWorker`, a thread that takes items from
its queue one at a time and hands them to a function. This module imports nothing of the project, so every
layer (``streamer/`` and ``pipelines/``) can use it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["OverflowPolicy", "BoundedQueue", "BoundedWorker"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP = object()  # ends a worker's queue: everything queued before it is handled first
_EMPTY = object()  # what taking from an empty queue without waiting gives
_WAIT_SLICE_S = 0.1  # how often a waiting producer checks whether it should give up


class OverflowPolicy(str, Enum):
    """What a full queue does with one more item (every item not kept is counted in ``dropped``)."""

    WAIT = "wait"  # the producer waits for room: nothing is lost (offline work)
    DROP_OLDEST = "drop_oldest"  # the newest items win: a live consumer never falls behind
    DROP_NEWEST = "drop_newest"  # keep what is queued, refuse the new item


class BoundedQueue(Generic[T]):
    """At most ``max_items`` items (at least 1) between one or more producers and a consumer.

    :meth:`put` applies ``policy`` when the queue is full; ``dropped`` counts the items it
    discarded (thread-safe). Items put with :meth:`put_wait` or taken by :meth:`clear` are never
    counted by the queue: their owner decides what they mean. ``carry``, if given, is what an
    item that :meth:`put` displaces under ``drop_oldest`` hands on: the new item is queued as
    ``carry(displaced, item)`` (a mark on the displaced item is then not lost).
    """

    def __init__(self, max_items: int, policy: OverflowPolicy = OverflowPolicy.WAIT,
                 carry: Callable[[T, T], T] | None = None):
        if max_items < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_items}")
        self.policy = OverflowPolicy(policy)
        self._carry = carry
        self._queue: queue.Queue = queue.Queue(maxsize=max_items)
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Items discarded by the policy so far."""
        with self._lock:
            return self._dropped

    def count_dropped(self, n: int = 1) -> None:
        """Add ``n`` items that the owner discarded (for example at the end of a run)."""
        with self._lock:
            self._dropped += n

    def put(self, item: T, abandon: threading.Event | None = None) -> bool:
        """Queue ``item`` under the policy; return whether it was queued. ``wait`` blocks until
        there is room, or returns False (nothing counted) once ``abandon`` is set."""
        if self.policy is OverflowPolicy.WAIT:
            while not self.put_wait(item, _WAIT_SLICE_S):
                if abandon is not None and abandon.is_set():
                    return False
            return True
        while True:
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                if self.policy is OverflowPolicy.DROP_NEWEST:
                    self.count_dropped()
                    return False
                displaced = self._take_oldest()
                if displaced is not _EMPTY:
                    self.count_dropped()
                    item = item if self._carry is None else self._carry(displaced, item)

    def put_wait(self, item: T, timeout: float | None = None) -> bool:
        """Queue ``item`` whatever the policy, waiting up to ``timeout`` seconds (None: forever)
        for room; return whether it was queued."""
        try:
            self._queue.put(item, timeout=timeout)
            return True
        except queue.Full:
            return False

    def drop_oldest(self) -> bool:
        """Discard the oldest item (not counted); return whether there was one."""
        return self._take_oldest() is not _EMPTY

    def _take_oldest(self):
        """The oldest item, taken without waiting; ``_EMPTY`` if there was none."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return _EMPTY

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds (None: forever, 0: not at all); None if none came."""
        try:
            return self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def __len__(self) -> int:
        """Items queued now."""
        return self._queue.qsize()

    def clear(self) -> int:
        """Discard everything queued (not counted); return how many items that was."""
        n = 0
        while self.drop_oldest():
            n += 1
        return n


class BoundedWorker(Generic[T]):
    """One thread that hands each item of a :class:`BoundedQueue` to ``handle``, oldest first.

    ``max_queue``: items waiting for ``handle`` (at least 1); past it ``policy`` decides and the
    drops are counted in ``dropped``. :meth:`submit` is the producer's side (it blocks only with
    ``wait``). An exception from ``handle`` is logged and the worker goes on with the next item
    (``handle`` that must stop after a failure keeps that state itself). :meth:`stop` ends the
    thread after the items queued before it (``drain``) or discards them (counted in ``dropped``);
    it is idempotent. ``name`` names the thread.
    """

    def __init__(self, handle: Callable[[T], None], *, max_queue: int, policy: OverflowPolicy, name: str):
        self._handle = handle
        self.queue: BoundedQueue = BoundedQueue(max_queue, policy)
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def policy(self) -> OverflowPolicy:
        return self.queue.policy

    @property
    def dropped(self) -> int:
        return self.queue.dropped

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: forever) for the thread to end after :meth:`stop`."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def native_id(self) -> int | None:
        """The operating system's id of the thread (None before :meth:`start`)."""
        return None if self._thread is None else self._thread.native_id

    def submit(self, item: T) -> bool:
        """Hand ``item`` over; return whether it was queued (a refused or displaced item is counted)."""
        return self.queue.put(item)

    def stop(self, drain: bool = True, timeout: float | None = None, join: bool = True) -> None:
        """End the thread: after handling what is queued (``drain``), or after the item in hand,
        discarding the rest (counted). Waits up to ``timeout`` seconds (None: until done) for
        the thread to end, or not at all without ``join`` (the item in hand then ends on its own)."""
        if not drain:
            self.queue.count_dropped(self.queue.clear())
        if self.is_alive():
            self.queue.put_wait(_STOP)  # waits at most until the thread takes one item
            if join:
                self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self.queue.get()) is not _STOP:
            try:
                self._handle(item)
            except Exception:  # a failing item must not end the worker
                log.exception("%s: an item failed", self.name)
