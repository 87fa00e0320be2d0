"""Keeping secrets out of everything the program shows: logs, events, messages, labels.

The one home of redaction. :func:`redact` rewrites a text so that no secret is readable:

- the password of ``scheme://user:password@``, and the whole user part of ``scheme://token@``;
- the value of a URL query parameter whose name says it is a secret (``password=``, ``token=``,
  ``access_token=``, ``api_key=``, ``sig=``, ``signature=`` and the like);
- the value of an ``Authorization`` header and a browser's token subprotocol
  (``bearer.jepa-stream.…``);
- every string registered with :func:`register` (the feed token, each value a config file
  took from ``${VAR}``), wherever it shows, and a registered URL by its display form.

A secret shorter than :data:`MIN_SECRET_CHARS` (8) is not registered: replacing one or two
letters everywhere would garble every message and, by the gaps, give the secret away; the
caller warns instead. A string with a ``masked`` attribute (a config value with its
``${VAR}`` parts already replaced by ``***``, :class:`configs.envsubst.EnvString`) is shown
by that form. :class:`RedactingFilter`, set on a logging handler, applies :func:`redact` to every
record, so ``-v`` output (request lines, headers, library errors) is safe to share.

The registry is process-wide and only grows (it holds what was read at start, a few strings).
This module imports nothing of the project, so every layer may use it.

Exports :data:`MIN_SECRET_CHARS`, :func:`register`, :func:`redact`, :func:`display_url` and
:class:`RedactingFilter`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote

__all__ = ["MIN_SECRET_CHARS", "register", "redact", "display_url", "RedactingFilter"]

#: Shortest secret that :func:`register` accepts (and :func:`redact` replaces in free text).
MIN_SECRET_CHARS = 8

_SECRET_NAMES = r"[\w.\-]*(?:password|passwd|pwd|pass|token|key|secret|auth|sig|signature|credential)"
_PATTERNS = (
    (re.compile(r"(Authorization:\s*\S+\s+)\S+", re.IGNORECASE), r"\1***"),  # "Authorization: Bearer T"
    (re.compile(rf"([?&]{_SECRET_NAMES}=)[^&#\s'\"]+", re.IGNORECASE), r"\1***"),  # "?access_token=T"
    (re.compile(r"(bearer\.jepa-stream\.)[A-Za-z0-9_\-]+"), r"\1***"),  # "Sec-WebSocket-Protocol: ..., bearer.jepa-stream.<base64url>"
    (re.compile(r"(://[^/@:\s]*:)[^/@\s]*@"), r"\1***@"),  # "rtsp://user:password@host"
    (re.compile(r"(://)[^/@:\s*]+@"), r"\1***@"),  # "rtsp://token@host"
)

_LOCK = threading.Lock()
_REGISTERED: dict[str, str] = {}  # secret (or raw URL) → what shows instead


def register(secret: str, shown: str = "***") -> bool:
    """Hide ``secret`` (and its URL-quoted and -unquoted forms) from now on, showing ``shown``
    instead; False, and nothing registered, when it is shorter than :data:`MIN_SECRET_CHARS`."""
    secret = str(secret)
    if len(secret) < MIN_SECRET_CHARS:
        return False
    with _LOCK:
        for form in {secret, unquote(secret), quote(secret, safe="")}:
            if len(form) >= MIN_SECRET_CHARS:
                _REGISTERED[form] = shown
    return True


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret described in the module docstring, and every string in
    ``secrets`` of at least :data:`MIN_SECRET_CHARS` characters, replaced by ``***``."""
    text = str(getattr(text, "masked", text))
    with _LOCK:
        registered = sorted(_REGISTERED.items(), key=lambda item: -len(item[0]))  # a URL before the secrets inside it
    registered += [(s, "***") for s in secrets if len(s) >= MIN_SECRET_CHARS]
    for secret, shown in registered:
        if secret in text:
            text = text.replace(secret, shown)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def display_url(url: str) -> str:
    """``url`` for messages and labels: scheme, host, port and path as written, any part taken
    from the environment as ``***``, credentials and secret query values as ``***``. The raw
    URL is registered to show this way, so a library error that echoes it gives nothing away."""
    shown = redact(url)
    if getattr(url, "masked", None) is not None and str(url) != shown:
        with _LOCK:
            _REGISTERED[str(url)] = shown  # whatever its length: it is a whole URL, not a fragment
    return shown


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback (it drops nothing)."""

    @property
    def secrets(self) -> frozenset[str]:
        """Every string hidden so far (each registered secret and its quoted forms)."""
        with _LOCK:
            return frozenset(_REGISTERED)

    def add(self, secret: str) -> bool:
        """Also hide this exact string from now on (:func:`register`); False if it is too short."""
        return register(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
