"""Errors a user can act on, shared by every command.

Exports :class:`UsageError`.

The CLI turns one into a single line ``jepa-stream: error: <message>`` and exit status 2. It
lives in its own module so that commands defined elsewhere (bench, training, the baseline)
raise the very class the CLI catches, also when the CLI runs as ``python -m pipelines.cli``.
"""

__all__ = ["UsageError"]


class UsageError(Exception):
    """Something the user asked for cannot be done; the message is one line naming the thing."""
