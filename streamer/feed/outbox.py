"""The worker's outbox: logged events wait here, in order, until the engine acknowledges them.

Exports: ``Outbox``, ``OutboxStats``.

With ``--bus`` the pipeline never waits for the engine. :meth:`Outbox.put` queues a logged
event (prepared with a placeholder seq) and returns at once; one thread appends the oldest to
the log (:class:`~streamer.feed.log_api.EventLog`), and only once the engine acknowledged it
takes it off the queue and hands it, numbered, to ``deliver``. So events reach the log in the
order they were put, and a publish whose acknowledgement was lost is re-sent with the same
message id, which the stream drops as a duplicate (its ack gives the first seq).

The queue holds at most ``limit`` events. When the engine is down long enough to fill it, the
oldest waiting event is dropped for each new one, and counted (:attr:`Outbox.stats`); the first
drop of an outage is one WARNING line, and the line when the engine answers again says how many
went. :meth:`Outbox.close` waits for the queue to drain (bounded) and says what it could not send.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from streamer.feed.nats_link import EngineUnavailable
from streamer.feed.protocol import Outgoing, with_seq

__all__ = ["Outbox", "OutboxStats"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxStats:
    """Counters of an outbox: events waiting now, sent (acknowledged) and dropped (queue full)."""

    queued: int = 0
    sent: int = 0
    dropped: int = 0


class Outbox:
    """A bounded, ordered queue in front of a log that may not answer.

    append: The log's append (blocks for the acknowledgement; raises EngineUnavailable).
    deliver: Gets each event with its seq once logged (on the outbox thread).
    limit: Events waiting at most; beyond it the oldest is dropped (counted).
    retry_s: Seconds between tries while the engine does not answer.
    """

    def __init__(self, append: Callable[[Outgoing], int], deliver: Callable[[Outgoing], None], *,
                 limit: int, retry_s: float) -> None:
        self._append, self._deliver, self.limit, self.retry_s = append, deliver, limit, retry_s
        self._queue: collections.deque[Outgoing] = collections.deque()
        self._cond = threading.Condition()
        self._sent = self._dropped = self._dropped_in_outage = 0
        self._closing = self._give_up = False  # close(): drain what waits / stop now
        self._sending: Outgoing | None = None  # the head while its append is under way: never dropped then
        self._thread = threading.Thread(target=self._run, name="bus-outbox", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> OutboxStats:
        with self._cond:
            return OutboxStats(len(self._queue), self._sent, self._dropped)

    def put(self, event: Outgoing) -> None:
        """Queue ``event`` behind the others; when ``limit`` are waiting, drop the oldest one that is not
        being sent right now (counted; with ``limit`` 1 and that one in flight, ``event`` itself)."""
        with self._cond:
            keep = True
            if len(self._queue) >= self.limit:
                in_flight = self._queue[0] is self._sending
                if in_flight and len(self._queue) == 1:
                    keep = False
                else:
                    del self._queue[1 if in_flight else 0]
                self._count_drop()
            if keep:
                self._queue.append(event)
                self._cond.notify()

    def _count_drop(self) -> None:
        self._dropped += 1
        self._dropped_in_outage += 1
        if self._dropped_in_outage == 1:
            logger.warning("event engine does not answer and %d events wait: dropping the oldest from now "
                           "on (counted in stats and /metrics as bus_outbox_dropped)", self.limit)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or self._give_up:
                    return
                head = self._sending = self._queue[0]
            try:
                seq = self._append(head)
            except EngineUnavailable:
                with self._cond:
                    self._sending = None  # not in flight between tries: the oldest may go now
                    if not self._give_up:
                        self._cond.wait(self.retry_s)
                continue
            self._logged(head, seq)

    def _logged(self, head: Outgoing, seq: int) -> None:
        with self._cond:
            self._queue.popleft()  # the head: put() drops behind it while it is being sent
            self._sending = None
            self._sent += 1
            if self._dropped_in_outage:
                logger.warning("event engine answers again; %d events were dropped while it did not",
                               self._dropped_in_outage)
                self._dropped_in_outage = 0
        self._deliver(with_seq(head, seq))

    def close(self, timeout: float) -> int:
        """Send what waits for up to ``timeout`` seconds, then stop; return how many were not sent."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._give_up = True
            self._cond.notify_all()
            left = len(self._queue)
        self._thread.join(self.retry_s + 5.0)
        if left:
            logger.warning("event engine: %d logged events were not sent before the end", left)
        return left
