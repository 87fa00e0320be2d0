"""The durable event log on one machine: every logged event (caption, status, baseline caption, enrichment), by seq, in SQLite.

The log is one SQLite file in WAL mode. The bus appends each logged event
(one transaction per event) before any subscriber sees it, so a client that
resumes with ``from_seq`` can always be served from here. Retention removes
the oldest events by age and by count; the largest seq ever stored survives
retention and restarts, so seqs keep growing across process restarts.

One process at a time owns a log: opening takes an exclusive lock on
``<path>.lock`` (which holds the owner's PID), and a second process that opens
the same log gets a clear error naming that PID instead of racing for seqs.
The lock goes with :meth:`SqliteEventLog.close` or the process. It is one of the two
:class:`~streamer.feed.log_api.EventLog` implementations (the other: the JetStream stream).

Every SQLite error (a damaged page found at open or at any later read or write) is an
:class:`EventLogError`: one line naming the file and saying how to go on (another log, or
moving this one aside); nothing is ever deleted.

Exports: ``EventLogConfig``, ``SqliteEventLog``, ``EventLogError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator

from configs.errors import UserError
from configs.loader import check_range, invalid

from streamer.feed.protocol import Outgoing, with_seq

logger = logging.getLogger(__name__)

#: Retention runs when the log opens and then once every this many appends.
PRUNE_EVERY = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: sqlite_sequence keeps the max seq ever stored
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    wall_time REAL NOT NULL,
    body TEXT NOT NULL                      -- the event exactly as sent on the wire (JSON)
);
CREATE INDEX IF NOT EXISTS events_wall_time ON events (wall_time);
"""


@dataclass(frozen=True)
class EventLogConfig:
    """Where the log lives and how much it keeps.

    path: SQLite file (``~`` is expanded); its folder is created. Defaults to
        ``out/events.sqlite`` here; ``jepa-stream run`` uses ``feed.log.path``
        (``~/.local/state/jepa-stream/events.sqlite``).
    retention_max_age_s: Events older than this (by ``wall_time``) are removed.
        It defaults to 7 days. ``None`` keeps events of any age.
    retention_max_events: At most this many events are kept; the oldest go first.
        It defaults to 1,000,000 (a few hundred MB). ``None`` keeps any number.
    fsync: Whether each append is flushed to disk before the event is broadcast
        (SQLite ``synchronous=FULL``). It defaults to True. False
        (``synchronous=NORMAL``) survives a process crash but not a power cut.
    retention_max_bytes: The oldest events go until the database's used pages
        take at most this many bytes (the file itself does not shrink; SQLite
        reuses the freed pages). It defaults to 1 GiB. ``None``: no size bound.
    """

    path: str = "out/events.sqlite"
    retention_max_age_s: float | None = 7 * 24 * 3600.0
    retention_max_events: int | None = 1_000_000
    fsync: bool = True
    retention_max_bytes: int | None = 1 << 30

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise invalid("path", "must be a non-empty string", self.path)
        check_range("retention_max_age_s", self.retention_max_age_s, 0.0, 10 * 365 * 86400.0, above=True, null=True)
        check_range("retention_max_events", self.retention_max_events, 1, 10**10, null=True)
        check_range("retention_max_bytes", self.retention_max_bytes, 1, 1 << 40, null=True)


class EventLogError(UserError, ValueError):
    """The log cannot be opened or used; the message is one line naming the file."""


def _unusable(path: str, exc: sqlite3.DatabaseError) -> EventLogError:
    return EventLogError(f"event log {path}: not a usable SQLite database ({exc}); nothing was deleted: "
                         f"give another log (replay --event-log NEW.sqlite, run: feed.log.path) or move this file aside")


def _hold_lock(path: Path, label: str) -> IO[str]:
    """Lock ``<path>.lock`` for this process (non-blocking) and write our PID in it.

    Raises ValueError naming the PID that holds it when another process does.
    """
    lock = open(f"{path}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise EventLogError(f"{label}: in use by process {holder} (one process per event log: stop that one, "
                         f"or give this one another log path)") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


class SqliteEventLog:
    """Append-only, seq-ordered store of logged events; safe to use from several threads.

    All methods hold one lock around one SQLite connection, so an append from
    the pipeline thread and a resume read from the server thread never
    interleave inside a transaction. Opening raises :class:`EventLogError` (a ValueError)
    with a one-line message (``event log PATH: problem``) when the folder cannot be made, another
    process holds the log, or the file is not a usable SQLite database (including
    damaged pages found while applying retention); any method raises it for a damaged page
    found later. A zero-byte file is taken as a new log, with a warning saying so.
    """

    def __init__(self, config: EventLogConfig) -> None:
        self.config = config
        label = f"event log {config.path}"
        path = Path(config.path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _hold_lock(path, label)
        except OSError as exc:
            raise EventLogError(f"{label}: cannot create it ({exc.strerror or exc})") from None
        if path.exists() and path.stat().st_size == 0:
            logger.warning("%s: the file is empty (0 bytes); starting a new log in it", label)
        self._lock = threading.Lock()
        self._appends = 0
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.DatabaseError(f"cannot use WAL mode (got {mode})")
            self._db.execute(f"PRAGMA synchronous={'FULL' if config.fsync else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            self.prune()
        except sqlite3.DatabaseError as exc:
            if self._db is not None:
                self._db.close()
            self._lock_file.close()
            raise _unusable(config.path, exc) from None

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; a SQLite error in the block becomes :class:`EventLogError`."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                raise _unusable(self.config.path, exc) from None

    @property
    def last_seq(self) -> int:
        """The largest seq ever stored (0 for a new log); retention does not lower it."""
        with self._using() as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    @property
    def first_seq(self) -> int | None:
        """The oldest seq still stored, or None when the log is empty."""
        with self._using() as db:
            return db.execute("SELECT MIN(seq) FROM events").fetchone()[0]

    def append(self, event: Outgoing) -> int:
        """Store ``event`` (its wire JSON, numbered with the next seq) durably; return that seq."""
        with self._using() as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            seq = 1 if row is None else int(row[0]) + 1
            out = with_seq(event, seq)
            db.execute("INSERT INTO events (seq, type, source, wall_time, body) VALUES (?, ?, ?, ?, ?)",
                       (seq, out.type.value, out.source, out.wall_time, out.text))
            self._appends += 1
            due = self._appends % PRUNE_EVERY == 0
        if due:
            self.prune()
        return seq

    def read_after(self, seq: int, types: Iterable[str] | None = None,
                   sources: Iterable[str] | None = None, limit: int = 1000) -> list[dict]:
        """Return up to ``limit`` stored events with a seq above ``seq``, in seq order.

        ``types`` and ``sources`` filter the events (None: no filter).
        """
        return [json.loads(body) for _, body in self.read_wire_after(seq, types, sources, limit)]

    def read_wire_after(self, seq: int, types: Iterable[str] | None = None,
                        sources: Iterable[str] | None = None, limit: int = 1000) -> list[tuple[int, str]]:
        """As :meth:`read_after`, but ``(seq, wire JSON text)`` pairs, exactly as first sent (no parsing)."""
        query, args = "SELECT seq, body FROM events WHERE seq > ?", [seq]
        for column, values in (("type", types), ("source", sources)):
            if values is not None:
                values = list(values)
                query += f" AND {column} IN ({', '.join('?' * len(values))})"
                args += values
        query += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._using() as db:
            return db.execute(query, args).fetchall()

    def sources(self) -> list[str]:
        """Names of the sources with events in the log."""
        with self._using() as db:
            return [name for (name,) in db.execute("SELECT DISTINCT source FROM events ORDER BY source")]

    def prune(self, now: float | None = None) -> int:
        """Apply retention now (``now``: Unix seconds, default the clock); return how many events went."""
        removed = 0
        with self._using():
            if self.config.retention_max_age_s is not None:
                cutoff = (time.time() if now is None else now) - self.config.retention_max_age_s
                removed += self._db.execute("DELETE FROM events WHERE wall_time < ?", (cutoff,)).rowcount
            if self.config.retention_max_events is not None:
                removed += self._db.execute(
                    "DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (self.config.retention_max_events,)).rowcount
            if self.config.retention_max_bytes is not None:
                removed += self._prune_to_bytes(self.config.retention_max_bytes)
        return removed

    def used_bytes(self) -> int:
        """Bytes of the database's pages that hold data (what ``retention_max_bytes`` bounds)."""
        with self._using():
            return self._used_bytes()

    def _used_bytes(self) -> int:
        page_size, pages, free = (self._db.execute(f"PRAGMA {name}").fetchone()[0]
                                  for name in ("page_size", "page_count", "freelist_count"))
        return (pages - free) * page_size

    def _prune_to_bytes(self, max_bytes: int) -> int:
        """Delete the oldest events, a twentieth of them at a time, until the used pages fit."""
        removed = 0
        while self._used_bytes() > max_bytes:
            count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if count == 0:
                break
            removed += self._db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                                        (max(1, count // 20),)).rowcount
        return removed

    def close(self) -> None:
        """Close the database and release the lock; the file keeps everything appended."""
        with self._lock:
            self._db.close()
            self._lock_file.close()
