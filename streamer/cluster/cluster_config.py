"""The ``cluster:`` section: how a worker (``jepa-stream run --bus``) shares cameras with others.

Exports :class:`ClusterConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from configs.loader import check_range, invalid

__all__ = ["ClusterConfig"]

_BUCKET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WORKER = re.compile(r"^[A-Za-z0-9_=.-]{1,64}$")


@dataclass(frozen=True)
class ClusterConfig:
    """``lease_timeout_s``: how long a camera's lease lives unrenewed (default 10 s; 1..600). A
    worker renews every third of it and stops a camera it could not renew within two thirds, so
    the camera is stopped before its lease can expire and be claimed elsewhere.
    ``leases_bucket`` and ``workers_bucket``: the key-value buckets of leases and of live workers
    (letters, digits, ``_`` and ``-``; shared by every worker of a site). ``worker``: this worker's
    name in leases and events (letters, digits, ``_=.-``; default: host name and process id).
    The buckets are created with ``feed.bus.stream_replicas`` copies, like the event stream."""

    lease_timeout_s: float = 10.0
    leases_bucket: str = "jepa_leases"
    workers_bucket: str = "jepa_workers"
    worker: str | None = None

    #: Bounds of ``lease_timeout_s``: under a second leaves no room to renew; over ten minutes
    #: leaves a dead worker's cameras unanalysed that long.
    MIN_LEASE_TIMEOUT_S = 1.0
    MAX_LEASE_TIMEOUT_S = 600.0

    def __post_init__(self) -> None:
        check_range("lease_timeout_s", self.lease_timeout_s, self.MIN_LEASE_TIMEOUT_S, self.MAX_LEASE_TIMEOUT_S)
        for key in ("leases_bucket", "workers_bucket"):
            if not isinstance(getattr(self, key), str) or not _BUCKET.match(getattr(self, key)):
                raise invalid(key, "must be 1 to 64 letters, digits, _ or -", getattr(self, key))
        if self.leases_bucket == self.workers_bucket:
            raise invalid("workers_bucket", "must differ from leases_bucket", self.workers_bucket)
        if self.worker is not None and (not isinstance(self.worker, str) or not _WORKER.match(self.worker)):
            raise invalid("worker", "must be 1 to 64 letters, digits or _=.-", self.worker)

    @property
    def renew_s(self) -> float:
        """Seconds between renewals (and heartbeats): a third of the lease timeout."""
        return self.lease_timeout_s / 3

    @property
    def give_up_s(self) -> float:
        """Age of the last successful renewal past which a camera is stopped and nothing of it is
        published: two thirds of the lease timeout."""
        return 2 * self.lease_timeout_s / 3
