"""The ``webhooks:`` section of the config file.

Exports :data:`SIGNATURE_HEADER` and :class:`WebhookConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["SIGNATURE_HEADER", "WebhookConfig"]

#: The header holding ``sha256=<hex HMAC-SHA256 of the body with the secret>``.
SIGNATURE_HEADER = "X-Jepa-Stream-Signature"
_TYPES = ("caption", "status", "baseline_caption", "enrichment", "scene")


@dataclass(frozen=True)
class WebhookConfig:
    """The webhook sink (off while ``urls`` is empty).

    ``urls``: http(s) URLs each event is POSTed to. ``secret``: the HMAC-SHA256 key of the
    :data:`SIGNATURE_HEADER` (write ``${ENV_VAR}``; never shown). ``types``: the logged event types
    sent (default ``scene`` and ``caption``). ``timeout_s``: longest wait for one answer (default 5).
    ``backoff_initial_s`` / ``backoff_max_s``: the wait after a failed POST, doubling from the
    first to the second (defaults 0.5 and 60 s).
    """

    urls: tuple[str, ...] = ()
    secret: str = field(default="", repr=False)
    types: tuple[str, ...] = ("scene", "caption")
    timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        for i, url in enumerate(self.urls):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"urls: item {i} must be an http:// or https:// URL with a host (got scheme {parts.scheme!r}; "
                                 "the URL itself is not shown: it may hold a token)")
        if self.urls and not self.secret:
            raise ValueError("secret: needed to sign the POSTs (write secret: ${A_VARIABLE})")
        unknown = [t for t in self.types if t not in _TYPES]
        if unknown or not self.types:
            raise ValueError(f"types: each one of {', '.join(_TYPES)} (got {list(self.types)})")
        if not 0.1 <= self.timeout_s <= 300:
            raise ValueError(f"timeout_s: must be within 0.1..300 (got {self.timeout_s})")
        if not 0.01 <= self.backoff_initial_s <= self.backoff_max_s <= 3600:
            raise ValueError(f"backoff_initial_s: need 0.01 <= backoff_initial_s <= backoff_max_s <= 3600 "
                             f"(got {self.backoff_initial_s}, {self.backoff_max_s})")
