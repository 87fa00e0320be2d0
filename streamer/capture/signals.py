"""SIGTERM handled as Ctrl-C, so that a service manager's stop cleans up like a user's.

Exports :func:`sigterm_as_interrupt`.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["sigterm_as_interrupt"]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` in the main thread, as Ctrl-C
    does, so ``with MultiCapture(...)`` cleans up the same way. Main thread only."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
