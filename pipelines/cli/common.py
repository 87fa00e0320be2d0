"""What every command shares: exit statuses and the filter that keeps secrets out of logs.

Exports :data:`EXIT_FAILED`, :data:`EXIT_USAGE`, :data:`EXIT_INTERRUPTED`, :data:`REDACT`,
:data:`INTERRUPTED`, :func:`on_ctrl_c`, :func:`note_unused_sources` and :func:`add_renamed`.
"""

from __future__ import annotations

import argparse
import sys
import threading

from streamer.feed.secrets import RedactingFilter

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "REDACT", "INTERRUPTED", "on_ctrl_c", "note_unused_sources",
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


def on_ctrl_c(signum, frame) -> None:
    """The CLI's SIGINT handler: remember the Ctrl-C, then interrupt as Python's default does."""
    INTERRUPTED.set()
    raise KeyboardInterrupt


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
