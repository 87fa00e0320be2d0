"""Keeping the feed token out of logs.

:class:`RedactingFilter`, set on a logging handler, rewrites every record it passes so that
no token is readable: the value of an ``Authorization`` header, of a ``token=`` URL query
parameter, of a browser's token subprotocol (``bearer.jepa-stream.…``), and any secret registered with :meth:`RedactingFilter.add` (the token itself,
wherever else it shows) become ``***``. The CLI sets one on its log handler at start, so
``-v`` debugging output of the WebSocket library (request lines, headers) is safe to share.

Exports: ``RedactingFilter`` (it uses :func:`streamer.redact.redact`).
"""

from __future__ import annotations

import logging

from streamer.redact import redact

__all__ = ["RedactingFilter"]

class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback (it drops nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Also hide this exact string from now on."""
        self.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True
