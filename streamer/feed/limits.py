"""Per-client limits of the event feed, with no I/O: the bounded queue, the rate limiter, the strike counter.

Each takes the current time (where it needs one) as an argument, so the rules
are tested without sockets or clocks. :mod:`streamer.feed.server` applies them to
each connection; ``docs/PROTOCOL.md`` states them for client authors.

Exports: ``ClientQueue``, ``RateLimiter``, ``StrikeCounter``, ``PeerLogLimiter``, ``HttpSlots``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from streamer.feed.protocol import LOGGED_TYPES, EventType, Outgoing


class ClientQueue:
    """The bounded queue in front of one client, with the backpressure rules.

    It holds events (:class:`Outgoing`) and control items (anything else:
    server messages, markers), in order. ``limit`` bounds the events; control
    items are never dropped and do not count. When the events are at the limit:

    * a new embedding is dropped;
    * a new stats event replaces the oldest queued embedding, else is dropped;
    * a new logged event (caption, status, baseline caption, enrichment)
      replaces the oldest queued embedding, else
      the oldest queued stats event; if there is neither, :meth:`offer` returns
      False and the caller must disconnect the client (close code 4000).

    ``dropped`` counts the embeddings and stats given up, cumulatively, per type;
    ``dropped_total`` is their sum.
    """

    def __init__(self, limit: int) -> None:
        if type(limit) is not int or limit < 1:
            raise ValueError(f"client queue limit must be an integer >= 1, got {limit!r}")
        self.limit = limit
        self.events = 0
        self.dropped = {EventType.EMBEDDING.value: 0, EventType.STATS.value: 0}
        self.dropped_total = 0
        self._items: deque[Any] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        """Append a control item (never dropped, not bounded)."""
        self._items.append(item)

    def offer(self, event: Outgoing) -> bool:
        """Queue ``event`` under the rules above; False means overflow (nothing was queued)."""
        if self.events >= self.limit:
            give_up = {EventType.EMBEDDING: (), EventType.STATS: (EventType.EMBEDDING,)}.get(
                event.type, (EventType.EMBEDDING, EventType.STATS))
            if not any(self._evict(kind) for kind in give_up):
                if event.type in LOGGED_TYPES:
                    return False
                self.dropped[event.type.value] += 1
                self.dropped_total += 1
                return True
        self._items.append(event)
        self.events += 1
        return True

    def _evict(self, kind: EventType) -> bool:
        for i, item in enumerate(self._items):
            if isinstance(item, Outgoing) and item.type is kind:
                del self._items[i]
                self.events -= 1
                self.dropped[kind.value] += 1
                self.dropped_total += 1
                return True
        return False

    def pop(self) -> Any:
        """Remove and return the oldest item (IndexError when empty)."""
        item = self._items.popleft()
        if isinstance(item, Outgoing):
            self.events -= 1
        return item

    def discard_events(self, convert: Callable[[Any], Any] = lambda item: item) -> None:
        """Drop every queued event; replace each control item by ``convert(item)``."""
        self._items = deque(convert(item) for item in self._items if not isinstance(item, Outgoing))
        self.events = 0

    def take_all(self) -> list[Any]:
        """Remove and return every item, oldest first."""
        items, self._items, self.events = list(self._items), deque(), 0
        return items


class RateLimiter:
    """Token bucket: ``rate`` messages per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._last = float(burst), now

    def allow(self, now: float) -> bool:
        """Take one token if there is one; return whether the message is allowed."""
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class StrikeCounter:
    """Counts bad messages; ``strike`` says True once ``limit`` of them fall within ``window_s``."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._times: deque[float] = deque()

    def strike(self, now: float) -> bool:
        """Record one bad message at ``now``; return whether the client is now abusive."""
        self._times.append(now)
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        return len(self._times) >= self.limit


class PeerLogLimiter:
    """Bounds log records per peer address: a :class:`RateLimiter` of ``rate``/``burst`` each.

    At most ``MAX_PEERS`` peers are tracked; when more appear, the oldest is forgotten
    (it starts again with a full burst).
    """

    #: Peer addresses tracked at once.
    MAX_PEERS = 4096

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._peers: dict[str, RateLimiter] = {}

    def allow(self, peer: str, now: float) -> bool:
        """Whether one more record about ``peer`` may be logged at ``now``."""
        bucket = self._peers.get(peer)
        if bucket is None:
            if len(self._peers) >= self.MAX_PEERS:
                del self._peers[next(iter(self._peers))]
            bucket = self._peers[peer] = RateLimiter(self.rate, self.burst, now)
        return bucket.allow(now)


class HttpSlots:
    """Plain HTTP requests in flight: at most ``per_client`` from one address, ``total`` in all.

    :meth:`take` is asked when a request arrives; each True must be followed by one
    :meth:`release` when its connection closes. One thread (the server's loop) uses it.
    """

    def __init__(self, total: int, per_client: int) -> None:
        if total < 1 or per_client < 1:
            raise ValueError(f"HTTP slots must be at least 1, got total {total} and per_client {per_client}")
        self.total, self.per_client = total, per_client
        self._held: dict[str, int] = {}
        self.in_flight = 0
        self.refused = 0  # requests answered 503, since the start

    def take(self, client: str) -> bool:
        """Hold a slot for ``client`` (an address); False, counted in :attr:`refused`, when none is free."""
        if self.in_flight >= self.total or self._held.get(client, 0) >= self.per_client:
            self.refused += 1
            return False
        self._held[client] = self._held.get(client, 0) + 1
        self.in_flight += 1
        return True

    def release(self, client: str) -> None:
        """Give back a slot that :meth:`take` gave ``client``."""
        left = self._held[client] - 1
        if left:
            self._held[client] = left
        else:
            del self._held[client]
        self.in_flight -= 1
