"""The ``feed.console`` section: the browser page of ``jepa-stream run`` and what it may cost.

Exports :class:`ConsoleConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConsoleConfig"]


@dataclass(frozen=True)
class ConsoleConfig:
    """enabled: Serve the page at ``/`` and each source's newest frame at ``/frames/<source>.jpg``.
        Default true (nothing is encoded while nobody looks).
    frame_interval_s: A source's newest frame is encoded at most this often, however many pages
        ask; pages ask this often too. Default 2.0 (a page then costs about 2 % of the pipeline's CPU,
        benchmarks/bench_console.py); 0.1..3600.
    frame_max_side: Longer side of the newest-frame JPEG, pixels. Default 640 (the default
        sampling.max_side: frames go out unscaled, which halves the cost of encoding). 16..4096.
    frame_quality: Its JPEG quality. Default 75; 1..100.
    max_captions: Captions a page keeps (the oldest go first). Default 500; 1..10,000.
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
        if not 0.1 <= self.frame_interval_s <= 3600:
            raise ValueError(f"frame_interval_s: must be within 0.1..3600, got {self.frame_interval_s}")
        for name, low, high in (("frame_max_side", 16, 4096), ("frame_quality", 1, 100),
                                ("max_captions", 1, 10_000), ("max_trace_points", 10, 10_000)):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ValueError(f"{name}: must be an integer within {low}..{high}, got {value!r}")

    def page_settings(self) -> dict:
        """What the page reads at start (``/console/settings.json``)."""
        return {"frame_interval_s": self.frame_interval_s, "max_captions": self.max_captions,
                "max_trace_points": self.max_trace_points}
