"""Where jepa-stream keeps what it can recompute: ``$XDG_CACHE_HOME/jepa-stream`` (``~/.cache`` without it).

Exports :func:`cache_root`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache folder (not created here): text-bank embeddings, ONNX exports under ``onnx/``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jepa-stream"
