"""The bench's settings beside the pipeline config: which references to run and how.

Exports :class:`BenchOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BenchOptions"]


@dataclass(frozen=True)
class BenchOptions:
    """``uniform_rates_hz``: uniform references (default 1 and 0.5 Hz). ``ward_smooth``: samples
    of the centred moving average before Ward clustering (default 3). ``baseline_clips``: clips
    per video the baseline VLM captions, spread evenly (default 6; each is ~2 s for the 256M model
    on 2 CPU cores). ``peers``: run the shot-boundary detectors of :mod:`pipelines.bench.peers`
    (default on)."""

    uniform_rates_hz: tuple[float, ...] = (1.0, 0.5)
    ward_smooth: int = 3
    baseline_clips: int = 6
    peers: bool = True
