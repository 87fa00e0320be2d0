"""The one base class of every error a user can act on.

Exports :class:`UserError`.

Something the user gave or asked for (a config key, a file, a port, data) cannot be used. Its
message is one line naming the thing and the problem; the CLI prints it as
``jepa-stream: error: <message>`` and exits with status 2, whatever layer raised it. It lives
at the bottom of the package graph so that every layer may raise a subclass of it:
:class:`configs.loader.ConfigError` (configuration), :class:`pipelines.errors.UsageError`
(a command's request), :class:`pipelines.errors.DataError` (bench or training data),
:class:`streamer.capture.frames.SourceError` (a video source) and
:class:`streamer.feed.eventlog.EventLogError` (the durable log).
"""

__all__ = ["UserError"]


class UserError(Exception):
    """Something the user gave or asked for cannot be used; the message is one line naming it."""
