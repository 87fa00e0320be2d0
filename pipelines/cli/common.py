"""What every command shares: exit statuses and the filter that keeps secrets out of logs.

Exports :data:`EXIT_FAILED`, :data:`EXIT_USAGE`, :data:`EXIT_INTERRUPTED` and :data:`REDACT`.
"""

from __future__ import annotations

from streamer.feed.secrets import RedactingFilter

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "REDACT"]

EXIT_FAILED = 1  # the analysis started but a source failed (events so far are kept)
EXIT_USAGE = 2  # bad arguments, config or input: nothing was analysed
EXIT_INTERRUPTED = 130

#: Hides tokens in every log record: main() puts it on the log handler; `run` adds a config file's token.
REDACT = RedactingFilter()
