"""Caption snapshots: a JPEG of the frames each caption describes, stored beside the event log.

Exports :class:`SnapshotStore` (its settings are :class:`~streamer.console.console_config.SnapshotConfig`).

The pipeline never waits on disk: :meth:`SnapshotStore.submit` decides the snapshot's name (so the
caption event carries its reference, ``/snapshots/<source>/<name>.jpg``, into the durable log) and
hands the frames to the store's own writer thread through a bounded queue. When that queue is full
the caption goes out without a snapshot (counted) rather than waiting. The writer encodes, writes
atomically (a temporary file renamed) and applies retention after every file:

* by age: files older than the event log's ``retention_max_age_s`` go, so a snapshot lives as long
  as the caption that names it;
* by total size (``retention_max_bytes``) and by count (``retention_max_files``): the oldest go first.

So a source that runs for a month stays inside the bounds whatever its caption rate. A caption
whose snapshot was removed, never written (queue full, disk error) or belongs to a log without
snapshots gets a 404 from :meth:`SnapshotStore.read`; clients show a placeholder.

Names are the caption's ``wall_time`` in microseconds, so they sort by time across sources and
restarts. The store keeps an index of its files (scanned once at start), so retention costs O(1)
per file and never lists the folder again.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streamer.capture.frames import Frame
from streamer.console.console_config import SnapshotConfig
from streamer.console.jpeg import encode_jpeg
from streamer.worker import BoundedWorker, OverflowPolicy

__all__ = ["SnapshotStore"]

logger = logging.getLogger(__name__)

#: ``/snapshots/<source>/<wall µs>.jpg``; a source id as ``--source`` allows it (never ``..``, never ``/``).
_URL = re.compile(r"/snapshots/([A-Za-z_][A-Za-z0-9_.\-]{0,63})/(\d{1,20})\.jpg")


@dataclass(frozen=True)
class _Job:
    path: Path
    frames: tuple[Frame, ...]


class SnapshotStore:
    """Snapshots in ``folder``: written by one worker thread, bounded by age, size and count.

    ``max_age_s`` is the event log's ``retention_max_age_s`` (None: no age bound). ``start()``
    before :meth:`submit`; ``stop()`` writes what is queued, then ends the thread (idempotent).
    Opening raises ValueError naming the folder when it cannot be made.
    """

    def __init__(self, config: SnapshotConfig, folder: Path, max_age_s: float | None) -> None:
        self.config, self.folder, self.max_age_s = config, Path(folder), max_age_s
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"snapshots {self.folder}: cannot create the folder ({exc.strerror or exc})") from None
        self._writer: BoundedWorker[_Job] = BoundedWorker(self._write, max_queue=config.queue,
                                                          policy=OverflowPolicy.DROP_NEWEST, name="snapshot-writer")
        self._index: list[tuple[int, Path, int]] = []  # heap of (wall µs, file, bytes): oldest first
        self._bytes = 0
        self._last_name: dict[str, int] = {}
        self.written = self.failed = self.removed = 0
        self._scan()
        self.prune()

    @property
    def bytes(self) -> int:
        """Total size of the snapshots kept (as the writer last saw it)."""
        return self._bytes

    @property
    def files(self) -> int:
        return len(self._index)

    @property
    def skipped(self) -> int:
        """Captions that went out without a snapshot because the writer was ``queue`` behind."""
        return self._writer.dropped

    def start(self) -> None:
        self._writer.start()

    def stop(self) -> None:
        self._writer.stop(drain=True)  # blocks at most until the writer takes one job

    def submit(self, source: str, wall_time: float, frames: Sequence[Frame]) -> str | None:
        """Queue a snapshot of ``frames`` (oldest first) for the caption made at ``wall_time``;
        return its URL path, or None (nothing to show, or the writer is ``queue`` behind).
        Never blocks."""
        if not frames:
            return None
        name = max(round(wall_time * 1e6), self._last_name.get(source, -1) + 1)  # unique per source
        count = min(self.config.frames, len(frames))
        picks = [round(i * (len(frames) - 1) / (count - 1)) for i in range(count)] if count > 1 else [len(frames) - 1]
        job = _Job(self.folder / source / f"{name}.jpg", tuple(frames[i] for i in picks))
        if not self._writer.submit(job):
            return None
        self._last_name[source] = name
        return f"/snapshots/{source}/{name}.jpg"

    def read(self, url_path: str) -> bytes | None:
        """The JPEG at ``url_path`` (``/snapshots/<source>/<name>.jpg``), or None when the path is
        not one of that form or the file is gone. (The HTTP handler's half: any thread.)"""
        match = _URL.fullmatch(url_path)
        if match is None:
            return None
        try:
            return (self.folder / match.group(1) / f"{match.group(2)}.jpg").read_bytes()
        except OSError:
            return None

    def prune(self, now: float | None = None) -> None:
        """Remove the oldest snapshots until every bound holds (``now``: Unix seconds)."""
        cutoff = None if self.max_age_s is None else ((time.time() if now is None else now) - self.max_age_s) * 1e6
        max_bytes, max_files = self.config.retention_max_bytes, self.config.retention_max_files
        while self._index and ((cutoff is not None and self._index[0][0] < cutoff)
                               or (max_bytes is not None and self._bytes > max_bytes)
                               or (max_files is not None and len(self._index) > max_files)):
            _, path, size = heapq.heappop(self._index)
            self._bytes -= size
            try:
                path.unlink()
                self.removed += 1
            except FileNotFoundError:  # removed by hand: the bound holds all the same
                pass
            except OSError as exc:
                logger.warning("snapshots: cannot remove %s (%s)", path, exc.strerror or exc)

    def _scan(self) -> None:
        """Index the snapshots already in the folder (a restart keeps them); drop half-written ones."""
        for source_dir in (d for d in self.folder.iterdir() if d.is_dir()):
            for entry in os.scandir(source_dir):
                if entry.name.endswith(".tmp"):
                    os.unlink(entry.path)
                elif entry.name.endswith(".jpg") and entry.name[:-4].isdigit():
                    size = entry.stat().st_size
                    self._index.append((int(entry.name[:-4]), Path(entry.path), size))
                    self._bytes += size
                    self._last_name[source_dir.name] = max(self._last_name.get(source_dir.name, -1), int(entry.name[:-4]))
        heapq.heapify(self._index)

    def _write(self, job: _Job) -> None:
        """Encode and write one snapshot, then apply retention (on the writer thread)."""
        try:
            data = encode_jpeg([f.image for f in job.frames if f.image.shape[0] == job.frames[-1].image.shape[0]],
                               self.config.max_side, self.config.quality)
            job.path.parent.mkdir(exist_ok=True)
            tmp = job.path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, job.path)
        except (OSError, ValueError) as exc:
            self.failed += 1
            if self.failed == 1 or self.failed % 100 == 0:  # a full disk must not flood the log
                logger.warning("snapshots: cannot write %s (%s); %d failed so far", job.path,
                               getattr(exc, "strerror", None) or exc, self.failed)
            return
        self.written += 1
        heapq.heappush(self._index, (int(job.path.stem), job.path, len(data)))
        self._bytes += len(data)
        self.prune()
