"""Errors a user can act on, shared by every command.

Exports :class:`UsageError` and :class:`DataError`, both :class:`configs.errors.UserError`.

The CLI turns one into a single line ``jepa-stream: error: <message>`` and exit status 2. It
lives in its own module so that commands defined elsewhere (bench, training, the baseline)
raise the very class the CLI catches, also when the CLI runs as ``python -m pipelines.cli``.
"""

from configs.errors import UserError

__all__ = ["UsageError", "DataError"]


class UsageError(UserError):
    """Something the user asked for cannot be done; the message is one line naming the thing."""


class DataError(UserError):
    """Bench ground truth or training pairs that cannot be used; the message names the file (and line)."""
