"""What one worker holds: its leases, when each was last renewed, which it should let go.

Exports :class:`Lease`, :class:`LeaseBook` and :func:`fair_share`.

Sans-I/O and thread-safe: the lease keeper's thread writes it, the run loop's thread reads it.
Times are ``time.monotonic()`` seconds taken *before* the request that claimed or renewed a
lease was sent, so a lease's age here is never less than its age in the bucket.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

__all__ = ["Lease", "LeaseBook", "fair_share"]


def fair_share(cameras: int, workers: int) -> int:
    """The most cameras one of ``workers`` live workers holds: ceil(cameras / workers)."""
    return math.ceil(cameras / max(1, workers))


@dataclass(frozen=True)
class Lease:
    """One held camera: its key's ``revision`` in the bucket and when it was last renewed."""

    source: str
    revision: int
    renewed_at: float


class LeaseBook:
    """The leases of one worker, the cameras it should release, and the publish fence.

    A lease counts as held while its last renewal is younger than ``give_up_s``
    (:meth:`fresh`); :meth:`held` lists only those. Older ones are dropped by :meth:`expire`.
    """

    def __init__(self, give_up_s: float, clock=time.monotonic):
        self.give_up_s = give_up_s
        self._clock = clock
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._excess: frozenset[str] = frozenset()

    def record(self, source: str, revision: int, sent_at: float) -> None:
        """A claim or renewal of ``source`` sent at ``sent_at`` succeeded with ``revision``."""
        with self._lock:
            self._leases[source] = Lease(source, revision, sent_at)

    def renewed(self, lease: Lease, revision: int, sent_at: float) -> bool:
        """``lease`` was renewed to ``revision`` by a request sent at ``sent_at``; False (and
        nothing recorded) when it was dropped or replaced meanwhile."""
        with self._lock:
            if self._leases.get(lease.source) != lease:
                return False
            self._leases[lease.source] = Lease(lease.source, revision, sent_at)
            return True

    def drop(self, source: str) -> Lease | None:
        """Forget ``source`` (lost or released); returns the lease it had, if any."""
        with self._lock:
            self._excess -= {source}
            return self._leases.pop(source, None)

    def fresh(self, source: str) -> bool:
        """Whether ``source`` is held and renewed less than ``give_up_s`` ago: the publish fence."""
        with self._lock:
            lease = self._leases.get(source)
        return lease is not None and self._clock() - lease.renewed_at < self.give_up_s

    def leases(self) -> list[Lease]:
        """Every lease recorded, fresh or not."""
        with self._lock:
            return list(self._leases.values())

    def held(self) -> frozenset[str]:
        """The cameras held and fresh."""
        now = self._clock()
        with self._lock:
            return frozenset(s for s, lease in self._leases.items() if now - lease.renewed_at < self.give_up_s)

    def expire(self) -> list[str]:
        """Drop the leases not renewed within ``give_up_s``; returns their cameras."""
        now = self._clock()
        with self._lock:
            old = [s for s, lease in self._leases.items() if now - lease.renewed_at >= self.give_up_s]
            for source in old:
                del self._leases[source]
            self._excess -= set(old)
            return old

    def set_excess(self, sources: frozenset[str]) -> None:
        """The held cameras beyond this worker's fair share, to be released at a clip boundary."""
        with self._lock:
            self._excess = frozenset(s for s in sources if s in self._leases)

    def excess(self) -> frozenset[str]:
        with self._lock:
            return self._excess
