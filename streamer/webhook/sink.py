"""The webhook sink: each chosen logged event POSTed as JSON, signed, at least once, in order.

Exports :func:`signature` and :class:`WebhookSink`.

The body is the event's wire JSON exactly as logged; :data:`~streamer.webhook.config.SIGNATURE_HEADER`
is ``sha256=`` and the hex HMAC-SHA256 of the body under the secret; ``X-Jepa-Stream-Seq`` and
``X-Jepa-Stream-Event`` give the seq and type. Delivery is a
:class:`~streamer.feed.follower.LogFollower`: the cursor moves once every URL answered 2xx.
A URL that is down (no answer, 5xx, 408, 429) makes the sink wait, doubling from
``backoff_initial_s`` to ``backoff_max_s``, and try the same event again (URLs that already took
it are not asked twice). A URL that answers another 4xx is dropped for the rest of the run with
one WARNING: it refuses what it is sent, and retrying cannot change that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

from streamer.feed.eventlog import EventLog
from streamer.feed.follower import LogFollower
from streamer.webhook.config import SIGNATURE_HEADER, WebhookConfig

__all__ = ["signature", "WebhookSink"]

log = logging.getLogger(__name__)

_RETRIED_4XX = (408, 429)  # "try later" answers


def signature(secret: str, body: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink(LogFollower):
    """POSTs the events of ``config.types`` to ``config.urls`` from the cursor at ``cursor_path``."""

    name = "webhooks"

    def __init__(self, config: WebhookConfig, log_: EventLog, cursor_path: str | Path) -> None:
        super().__init__(log_, cursor_path, frozenset(config.types))
        self.config = config
        self.urls = list(config.urls)
        self._taken: tuple[int, set[str]] = (0, set())  # (seq, URLs that took it)
        self._failures = 0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the URL, never a proxy

    def pause_s(self) -> float:
        return min(self.config.backoff_max_s, self.config.backoff_initial_s * 2 ** max(0, self._failures - 1))

    def deliver(self, seq: int, text: str) -> bool:
        if self._taken[0] != seq:
            self._taken = (seq, set())
        body = text.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.config.secret, body),
                   "X-Jepa-Stream-Seq": str(seq), "X-Jepa-Stream-Event": json.loads(text)["type"]}
        ok = True
        for url in [u for u in self.urls if u not in self._taken[1]]:
            status = self._post(url, body, headers)
            if 200 <= status < 300:
                self._taken[1].add(url)
            elif 400 <= status < 500 and status not in _RETRIED_4XX:
                log.warning("webhooks: %s answered %d to event %d; dropped from the deliveries of this run", url, status, seq)
                self.urls.remove(url)
            else:
                ok = False
        self._failures = 0 if ok else self._failures + 1
        return ok

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The HTTP status of one POST (0: no answer)."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, ValueError) as exc:
            if self._failures == 0:
                log.warning("webhooks: %s: no answer (%s); retrying with backoff", url, getattr(exc, "reason", exc))
            return 0
