"""What every benchmark script shares: the machine it ran on and the JSON report it writes.

Exports :func:`machine` and :func:`write_report`. The scripts run from a clone
(``python benchmarks/bench_x.py``), which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

__all__ = ["machine", "write_report"]


def machine() -> dict:
    """``cpu_count``, ``python`` (version) and ``platform`` of this machine, for a report's header."""
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write_report(path: str | Path, report: dict) -> Path:
    """Write ``report`` to ``path`` as indented JSON ending in a newline (its folder made when
    missing), say ``wrote PATH`` on stdout, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return path
