"""What a run with the console holds: its routes, the newest frames, the snapshot store and the drift history.

Exports :class:`ConsoleParts` and :func:`open_console`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streamer.console.console_config import ConsoleConfig, SnapshotConfig
from streamer.console.history import DriftHistory
from streamer.console.newest import NewestFrames
from streamer.console.routes import console_routes
from streamer.console.snapshots import SnapshotStore
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.http import HttpRoute

__all__ = ["ConsoleParts", "open_console"]


@dataclass(frozen=True)
class ConsoleParts:
    """``routes`` for the feed server; ``frames`` (None when the page is off), ``snapshots``
    (None when they are off) and ``history`` (None when the page is off) for the run's console
    observer. :meth:`close` writes the queued snapshots."""

    routes: tuple[HttpRoute, ...]
    frames: NewestFrames | None
    snapshots: SnapshotStore | None
    history: DriftHistory | None = None

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.stop()


def open_console(console: ConsoleConfig, snapshots: SnapshotConfig, log: EventLogConfig,
                 on_snapshot: Callable[[str, bytes], None] | None = None) -> ConsoleParts:
    """The console's parts for a run whose event log is ``log`` (the snapshot writer is started;
    ``on_snapshot`` gets each snapshot written, see :class:`SnapshotStore`).
    Raises ValueError naming the snapshot folder when it cannot be made."""
    frames = NewestFrames(console.frame_interval_s, console.frame_max_side, console.frame_quality) if console.enabled else None
    store = None
    if snapshots.enabled:
        store = SnapshotStore(snapshots, snapshots.folder(log.path), log.retention_max_age_s, on_snapshot)
        store.start()
    history = DriftHistory(console.max_trace_points) if console.enabled else None
    routes = console_routes(console, frames, store, history)
    if not console.enabled:  # snapshots stay reachable for other clients; the page does not
        routes = [r for r in routes if r.path == "/snapshots/"]
    return ConsoleParts(tuple(routes), frames, store, history)
