"""What every command shares: exit statuses and the filter that keeps secrets out of logs.

Exports :data:`EXIT_FAILED`, :data:`EXIT_USAGE`, :data:`EXIT_INTERRUPTED`, :data:`REDACT`,
:data:`INTERRUPTED`, :func:`hide`, :func:`note_stop`, :func:`note_unused_sources` and :func:`add_renamed`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from streamer.secrets import MIN_SECRET_CHARS, RedactingFilter

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "REDACT", "INTERRUPTED", "hide", "note_stop", "note_unused_sources",
           "add_renamed"]

EXIT_FAILED = 1  # the analysis started but a source failed (events so far are kept)
EXIT_USAGE = 2  # bad arguments, config or input: nothing was analysed
EXIT_INTERRUPTED = 130

#: Hides tokens in every log record: main() puts it on the log handler; `run` adds a config file's token.
REDACT = RedactingFilter()

#: Set by the first Ctrl-C. Some libraries turn a KeyboardInterrupt raised inside their import into
#: an ImportError, which an optional-dependency fallback then takes for "not installed"; the
#: commands check this after such steps, so the Ctrl-C is still honoured.
INTERRUPTED = threading.Event()


_WARNED: set[str] = set()  # secrets already warned about: one warning each


def hide(secret: str | None, what: str) -> None:
    """Keep ``secret`` (``what`` names it: "the feed token") out of every log line, event and
    message; one warning on stderr if it is too short to be hidden without garbling the text."""
    if not secret or REDACT.add(secret) or secret in _WARNED:
        return
    _WARNED.add(secret)
    print(f"jepa-stream: warning: {what} is shorter than {MIN_SECRET_CHARS} characters, so logs cannot hide it "
          f"without giving it away: use a longer one", file=sys.stderr, flush=True)


def note_stop(signum: int) -> None:
    """Called on the first stop signal (:class:`~streamer.capture.signals.StopSignals`): remember a Ctrl-C."""
    if signum == signal.SIGINT:
        INTERRUPTED.set()


def note_unused_sources(config, command: str, path: str | None) -> None:
    """Say on stderr that ``command`` (which analyses the files it is given) leaves the
    ``sources:`` of the config file at ``path`` alone: they are for ``run``."""
    if config.sources:
        print(f"jepa-stream: note: {command} analyses the video files it is given; the {len(config.sources)} "
              f"sources: of {path} are for `jepa-stream run`", file=sys.stderr, flush=True)


class _Renamed(argparse.Action):
    """An option of an earlier version: giving it ends the command with one line naming its new name."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(EXIT_USAGE, f"jepa-stream: error: {option_string}: renamed to {self.const}\n")


def add_renamed(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Refuse ``old`` (hidden from ``--help``) with ``jepa-stream: error: <old>: renamed to <new>`` and exit status 2."""
    parser.add_argument(old, action=_Renamed, nargs="?", const=new, help=argparse.SUPPRESS)
