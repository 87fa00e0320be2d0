"""The ``feed.console`` and ``feed.snapshots`` sections: the browser page of ``jepa-stream run``,
what it may cost, and the caption snapshots. (Light: loading a config imports no image library.)

Exports :class:`ConsoleConfig` and :class:`SnapshotConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from configs.loader import check_range, invalid

__all__ = ["ConsoleConfig", "SnapshotConfig"]


@dataclass(frozen=True)
class ConsoleConfig:
    """enabled: Serve the page at ``/`` and each source's newest frame at ``/frames/<source>.jpg``.
        Default true (nothing is encoded while nobody looks).
    frame_interval_s: A source's newest frame is encoded at most this often, however many pages
        ask; pages ask this often too. Default 2.0 (with snapshots, a page then costs about 3 % of a
        run's CPU: benchmarks/bench_console.py); 0.1..3600.
    frame_max_side: Longer side of the newest-frame JPEG, pixels. Default 640 (the default
        sampling.max_side: frames go out unscaled, which halves the cost of encoding). 16..4096.
    frame_quality: Its JPEG quality. Default 75; 1..100.
    max_captions: Captions a page keeps (the oldest go first); also how many enrichments it holds
        for captions it has not (yet) got. Default 500; 1..10,000.
    max_trace_points: Drift samples a page keeps per source (a 0.5 s clip stride: 5 minutes at
        the default). Default 600; 10..10,000.
    """

    enabled: bool = True
    frame_interval_s: float = 2.0
    frame_max_side: int = 640
    frame_quality: int = 75
    max_captions: int = 500
    max_trace_points: int = 600

    def __post_init__(self) -> None:
        check_range("frame_interval_s", self.frame_interval_s, 0.1, 3600.0)
        for name, low, high in (("frame_max_side", 16, 4096), ("frame_quality", 1, 100),
                                ("max_captions", 1, 10_000), ("max_trace_points", 10, 10_000)):
            check_range(name, getattr(self, name), low, high)

    def page_settings(self) -> dict:
        """What the page reads at start (``/console/settings.json``)."""
        return {"frame_interval_s": self.frame_interval_s, "max_captions": self.max_captions,
                "max_trace_points": self.max_trace_points}


@dataclass(frozen=True)
class SnapshotConfig:
    """The ``feed.snapshots`` section.

    enabled: Store a snapshot per caption (``jepa-stream run`` with the feed). Default true.
    path: Folder of the snapshots; null (default) is ``snapshots/`` beside the event log.
    frames: How many of the caption's frames go side by side in one JPEG (evenly spaced over
        ``[t_start, t_end]``, newest last). Default 1 (the newest); at most 8.
    max_side: The JPEG's longer side at most, in pixels. Default 480; 16..4096.
    quality: JPEG quality. Default 80; 1..100.
    queue: Snapshots waiting for the writer thread at most; when full a caption goes out without
        one. Default 16; at most 1024.
    retention_max_bytes: Total size of the folder's snapshots at most; the oldest go first.
        Default 1 GiB. Null: no size bound (the age bound of ``feed.log`` still applies).
    retention_max_files: Snapshots kept at most. Default 100,000. Null: no count bound.

    Age: a snapshot is removed once older than ``feed.log.retention_max_age_s`` (7 days), like the
    caption that names it.
    """

    enabled: bool = True
    path: str | None = None
    frames: int = 1
    max_side: int = 480
    quality: int = 80
    queue: int = 16
    retention_max_bytes: int | None = 1 << 30
    retention_max_files: int | None = 100_000

    #: Most ``frames`` in one snapshot, most waiting snapshots.
    MAX_FRAMES, MAX_QUEUE = 8, 1024

    def __post_init__(self) -> None:
        if self.path is not None and not self.path:
            raise invalid("path", "must be a folder or null (beside the event log)", self.path)
        for name, low, high in (("frames", 1, self.MAX_FRAMES), ("max_side", 16, 4096), ("quality", 1, 100),
                                ("queue", 1, self.MAX_QUEUE), ("retention_max_bytes", 1, 1 << 40),
                                ("retention_max_files", 1, 10_000_000)):
            check_range(name, getattr(self, name), low, high, null=name.startswith("retention"))

    def folder(self, log_path: str) -> Path:
        """Where the snapshots go, for an event log at ``log_path``."""
        return Path(self.path).expanduser() if self.path else Path(log_path).expanduser().parent / "snapshots"
