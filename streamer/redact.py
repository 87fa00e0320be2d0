"""Secrets out of every message: the one :func:`redact`.

Exports :func:`redact`.

Used by capture (a camera URL's password in an error or a label) and by the log filter of the
feed (:class:`streamer.feed.secrets.RedactingFilter`: tokens in headers and request lines). It
imports nothing of the project, so every layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["redact"]

_PATTERNS = (
    re.compile(r"(://[^/@:\s]*:)[^/@\s]*(?=@)"),  # the password of scheme://user:password@
    # Query parameters that carry a secret in the URLs of common cameras (Dahua's ?password=, tokens).
    re.compile(r"([?&](?:password|passwd|pwd|pass|token|key|secret|auth)=)[^&#\s'\"]*", re.IGNORECASE),
    re.compile(r"(Authorization:\s*\S+\s+)\S+", re.IGNORECASE),  # "Authorization: Bearer T"
    re.compile(r"(bearer\.jepa-stream\.)[A-Za-z0-9_\-]+"),  # a browser's "Sec-WebSocket-Protocol: ..., bearer.jepa-stream.<base64url>"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``***`` for: the password of every ``scheme://user:password@``, the value of
    every ``password=``, ``token=``, ``key=`` (and similar) query parameter, an ``Authorization``
    header's credentials, a browser's token subprotocol, and every string in ``secrets``."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
