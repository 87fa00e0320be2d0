"""Stop signals: SIGTERM handled as Ctrl-C, and a stop that later signals cannot cut short.

Exports :data:`STOP_BUDGET_S`, :data:`FORCE_PRESSES`, :func:`sigterm_as_interrupt` (for a
library user's loop), :class:`StopSignals` (what the command line installs) and
:func:`stop_deferred` (a group of writes that a stop must not cut in two).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["STOP_BUDGET_S", "FORCE_PRESSES", "sigterm_as_interrupt", "StopSignals", "stop_deferred"]

#: Seconds after the first stop signal in which later ones are ignored (the capture's 1.5 s
#: stop and the process's exit fit in it); a signal after it ends the process at once.
STOP_BUDGET_S = 2.0
#: Ctrl-C presses that end the process at once, whatever it is doing.
FORCE_PRESSES = 3
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Deferral:
    """The main thread's open :func:`stop_deferred` blocks, and the stop signal they hold back."""

    depth = 0
    pending: int | None = None


@contextlib.contextmanager
def stop_deferred() -> Iterator[None]:
    """Hold :class:`StopSignals`' first stop until this block ends, then raise it.

    For a group of writes that must not be cut in two: an event in the durable log but not yet
    handed to the outputs, a caption logged without its scene. Blocks nest; the stop comes when
    the outermost one ends (not when it ends by an exception). Outside the main thread, where no
    signal handler runs, it does nothing. A held stop still counts as taken, so the process is not
    forced out while the block runs, and a later signal is handled as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
    if _Deferral.depth == 0 and _Deferral.pending is not None:
        signum, _Deferral.pending = _Deferral.pending, None
        raise KeyboardInterrupt(f"signal {signum}")


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


class StopSignals:
    """SIGINT and SIGTERM as one clean stop, and a way out when the clean stop cannot come.

    Within ``with StopSignals(...)`` (main thread only):

    - the first signal raises :class:`KeyboardInterrupt` in the main thread, after
      ``on_first(signum)``, so every ``with`` and ``finally`` cleans up and the summary is printed;
    - a later signal within ``budget_s`` of the first (GNU ``timeout`` sends two, 0.3 s apart)
      does not cut that cleanup short: one line on stderr says it is ignored;
    - a signal after ``budget_s``, or the ``force_presses``-th Ctrl-C, ends the process at once;
    - a watcher thread sees every signal through :func:`signal.set_wakeup_fd`, also while the
      main thread is stuck inside a C call that releases the GIL (a library waiting on its own
      threads, a blocking read) where no Python handler can run: if the main thread has not
      taken the first signal within ``budget_s``, the watcher ends the process. (A C loop that
      holds the GIL stops every Python thread; only SIGKILL ends it.)

    Ending at once is ``os._exit(128 + signum)`` after one line on stderr: nothing more is flushed.
    On leaving the block the previous handlers come back, unless a signal came: then both
    signals stay ignored, as the process is only exiting.
    """

    def __init__(self, on_first: Callable[[int], None] | None = None, *, budget_s: float = STOP_BUDGET_S,
                 force_presses: int = FORCE_PRESSES) -> None:
        self._on_first = on_first
        self._budget_s = budget_s
        self._force_presses = force_presses
        self._lock = threading.Lock()
        self._first_at: float | None = None  # when the watcher saw the first signal
        self._taken = 0  # signals the main thread's handler ran for
        self._presses = 0  # SIGINTs the watcher saw
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1

    def __enter__(self) -> StopSignals:
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        threading.Thread(target=self._watch, args=(read,), name="stop-signals", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            came = self._first_at is not None or self._taken
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if came else previous)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._pipe[1])  # the watcher reads the end of the pipe and returns

    def _handle(self, signum: int, frame) -> None:
        with self._lock:
            self._taken += 1
            first = self._taken == 1
        if first:
            if self._on_first is not None:
                self._on_first(signum)
            if _Deferral.depth:  # inside a group of writes: the stop comes when it ends
                _Deferral.pending = signum
                return
            raise KeyboardInterrupt(f"signal {signum}")
        _say(f"stopping: signal {signum} ignored until the stop is done (Ctrl-C {self._force_presses} times forces it)")

    def _watch(self, fd: int) -> None:
        try:
            while data := os.read(fd, 64):
                for signum in data:
                    self._seen(signum)
        finally:
            os.close(fd)

    def _seen(self, signum: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._presses += signum == signal.SIGINT
            first, late = self._first_at is None, self._first_at is not None and now - self._first_at > self._budget_s
            self._first_at = self._first_at or now
            presses = self._presses
        if first:
            timer = threading.Timer(self._budget_s, self._check_taken, args=(signum,))
            timer.daemon = True  # never what keeps the process alive
            timer.start()
        elif presses >= self._force_presses or late:
            _force(signum, f"Ctrl-C {presses} times" if presses >= self._force_presses else "a signal past the stop budget")

    def _check_taken(self, signum: int) -> None:
        with self._lock:
            taken = self._taken
        if not taken:
            _force(signum, f"the main thread did not stop within {self._budget_s:g} s")


def _say(line: str) -> None:
    """One line on stderr, written directly (safe inside a signal handler and from any thread)."""
    with contextlib.suppress(OSError):
        os.write(2, f"jepa-stream: {line}\n".encode())


def _force(signum: int, why: str) -> None:
    _say(f"forced exit ({why})")
    os._exit(128 + signum)
