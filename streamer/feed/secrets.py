"""Keeping the feed token out of logs.

:class:`RedactingFilter`, set on a logging handler, rewrites every record it passes so that
no token is readable: the value of an ``Authorization`` header, of a ``token=`` URL query
parameter, of a browser's token subprotocol (``bearer.jepa-stream.…``), and any secret registered with :meth:`RedactingFilter.add` (the token itself,
wherever else it shows) become ``***``. The CLI sets one on its log handler at start, so
``-v`` debugging output of the WebSocket library (request lines, headers) is safe to share.

Exports: ``RedactingFilter``, ``redact``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["RedactingFilter", "redact"]

_PATTERNS = (
    re.compile(r"(Authorization:\s*\S+\s+)\S+", re.IGNORECASE),  # "Authorization: Bearer T"
    re.compile(r"([?&]token=)[^&\s'\"]+", re.IGNORECASE),  # "GET /?token=T"
    re.compile(r"(bearer\.jepa-stream\.)[A-Za-z0-9_\-]+"),  # a browser's "Sec-WebSocket-Protocol: ..., bearer.jepa-stream.<base64url>"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with header and query tokens, and every string in ``secrets``, replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


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
