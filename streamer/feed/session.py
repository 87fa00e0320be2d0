"""One client connection of the feed: its subscription, its bounded queue and its sender task.

Exports :class:`SubscriptionStart`, :class:`FeedState` and :class:`Session`.

A :class:`Session` lives on the server's event loop (:mod:`streamer.feed.server`). Events
reach it through :meth:`Session.offer` under the backpressure rules of
:class:`~streamer.feed.limits.ClientQueue`; one sender task sends them in order, answers a
subscription with its ``subscribed`` and the replay of ``from_seq`` from the durable log (a
page at a time), and tells the client when it is ``lagging``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from streamer.feed.bus import EventBus
from streamer.feed.limits import ClientQueue, RateLimiter, StrikeCounter
from streamer.feed.log_api import LogUnavailable
from streamer.feed.protocol import (LOGGED_TYPES, CloseCode, EmbeddingFormat, ErrorReason, Outgoing, ProtocolError, Subscription,
                                    error_message, lagging_message, subscribed_message)
from streamer.feed.server_config import ServerConfig

__all__ = ["SubscriptionStart", "FeedState", "Session"]

logger = logging.getLogger("streamer.feed.server")


class FeedState(Protocol):
    """What a session reads and counts of the server's loop-side state."""

    loop: asyncio.AbstractEventLoop
    bus: EventBus
    replay_slots: asyncio.Semaphore
    sent: Counter[str]
    replayed: int


@dataclass(frozen=True)
class SubscriptionStart:
    """Queue marker: a subscription starts here (ack, then the replay for ``from_seq``)."""

    sub: Subscription
    last_seq: int


class Session:
    """One client connection: its subscription, its bounded queue and its sender task."""

    def __init__(self, ws: ServerConnection, config: ServerConfig, feed: FeedState) -> None:
        self.ws, self.config, self.feed = ws, config, feed
        self.sub = Subscription()
        self.queue = ClientQueue(config.client_queue)  # events, control messages (str) and SubscriptionStart markers
        self.wake = asyncio.Event()
        self.notified = 0
        self.last_notice = 0.0
        self.last_sent_seq = 0
        self.skip_through = 0  # logged events up to this seq were replayed already
        self.rate = RateLimiter(config.client_messages_per_s, config.client_message_burst, time.monotonic())
        self.strikes = StrikeCounter(config.max_strikes, config.strike_window_s)
        self.closing = False
        self.lagging = False  # lost events to a full queue and has not emptied it since
        self.sender: asyncio.Task | None = None
        self.finisher: asyncio.Task | None = None  # closes the connection after close()

    def control(self, message: str) -> None:
        """Queue a control message (hello, subscribed, error, lagging) behind what is queued."""
        self.queue.put(message)
        self.wake.set()

    def resubscribe(self, sub: Subscription, last_seq: int) -> None:
        """Replace the subscription: pending events (and replays) of the old one are dropped.

        Every subscribe still gets its ``subscribed``; one superseded before it
        started is just followed by no events.
        """
        self.queue.discard_events(lambda item: subscribed_message(item.sub, item.last_seq)
                                  if isinstance(item, SubscriptionStart) else item)
        self.sub = sub
        self.queue.put(SubscriptionStart(sub, last_seq))
        self.wake.set()

    def offer(self, event: Outgoing) -> None:
        """Queue ``event`` under the backpressure rules of :class:`~streamer.feed.limits.ClientQueue`."""
        dropped = self.queue.dropped_total
        if self.queue.offer(event):
            self.wake.set()
            self.lagging = self.lagging or self.queue.dropped_total != dropped
        else:
            self.overflow()

    def overflow(self) -> None:
        """The queue cannot take a logged event: close so the client resumes from its last seq."""
        self.close(CloseCode.RESUME, f"client queue overflow; resume with from_seq {self.last_sent_seq}")

    def close(self, code: CloseCode, reason: str) -> None:
        """Stop sending and close the connection with ``code`` (idempotent)."""
        if self.closing:
            return
        self.closing = True
        logger.info("closing %s: %d %s", self.ws.remote_address, code, reason)
        pending = [item for item in self.queue.take_all() if isinstance(item, str)]  # errors still go out first
        if self.sender is not None:
            self.sender.cancel()
        self.finisher = self.feed.loop.create_task(self._finish(pending, code, reason))

    async def _finish(self, pending: list[str], code: CloseCode, reason: str) -> None:
        try:
            for message in pending:
                await self.ws.send(message)
        except ConnectionClosed:
            return
        await self.ws.close(code, reason)

    def reject(self, error: ProtocolError) -> None:
        """Answer a bad client message; close with 1008 once the client keeps at it."""
        self.control(error_message(error.reason, error.detail))
        if self.strikes.strike(time.monotonic()):
            self.close(CloseCode.POLICY_VIOLATION, f"{self.config.max_strikes} bad messages "
                                                   f"within {self.config.strike_window_s:g} s")

    async def run_sender(self) -> None:
        """Send queued messages in order until cancelled or the connection closes."""
        try:
            while True:
                while not self.queue:
                    self.lagging = False  # caught up
                    await self._notify_lagging(force=True)
                    if not self.queue:  # no await between this check and wait(): no lost wake-up
                        self.wake.clear()
                        await self.wake.wait()
                item = self.queue.pop()
                if isinstance(item, str):
                    await self.ws.send(item)
                elif isinstance(item, SubscriptionStart):
                    await self.ws.send(subscribed_message(item.sub, item.last_seq))
                    self.skip_through = 0
                    if item.sub.from_seq is not None:
                        try:
                            await self._replay(item)
                        except LogUnavailable as exc:  # the engine's log is down: the client resumes later
                            logger.warning("replay for %s: %s", self.ws.remote_address, exc)
                            self.close(CloseCode.RESUME, f"event log unavailable; resume with from_seq "
                                                         f"{max(self.last_sent_seq, item.sub.from_seq)}")
                            return
                else:
                    if item.seq is not None and item.seq <= self.skip_through:
                        continue
                    await self._notify_lagging(force=False)
                    if item.seq is not None:  # send() writes the frame before its first await
                        self.last_sent_seq = item.seq
                    if item.binary is not None and self.sub.embedding_format is EmbeddingFormat.BINARY:
                        await self.ws.send(item.binary)
                    else:
                        await self.ws.send(item.utf8, text=True)
                    self.feed.sent[item.type.value] += 1
        except ConnectionClosed:
            pass

    async def _notify_lagging(self, force: bool) -> None:
        total = sum(self.queue.dropped.values())
        now = time.monotonic()
        if total > self.notified and (force or now - self.last_notice >= self.config.lagging_notice_interval_s):
            self.notified, self.last_notice = total, now
            await self.ws.send(lagging_message(self.queue.dropped, self.queue.events, self.queue.limit))

    async def _replay(self, replay: SubscriptionStart) -> None:
        log, sub = self.feed.bus.log, replay.sub
        first_seq = await asyncio.to_thread(lambda: log.first_seq)
        if sub.from_seq > replay.last_seq:
            await self.ws.send(error_message(ErrorReason.FROM_SEQ_AHEAD,
                                             f"from_seq {sub.from_seq} is ahead of the last seq {replay.last_seq} "
                                             f"(was the event log reset?); sending live events only"))
            return
        if first_seq is not None and sub.from_seq + 1 < first_seq:
            await self.ws.send(error_message(ErrorReason.FROM_SEQ_EXPIRED,
                                             f"events {sub.from_seq + 1}..{first_seq - 1} were removed by retention; "
                                             f"replaying from {first_seq}"))
        types = [t.value for t in sub.types if t in LOGGED_TYPES]
        sources = None if sub.sources is None else sorted(sub.sources)
        after = sub.from_seq
        while types:
            async with self.feed.replay_slots:  # at most max_replays log reads at once
                page = await asyncio.to_thread(log.read_wire_after, after, types, sources, self.config.replay_page)
            for seq, text in page:  # one page in memory per catching-up client; sent as stored, no re-encoding
                after = self.last_sent_seq = seq
                await self.ws.send(text, text=True)
                self.feed.replayed += 1
            if len(page) < self.config.replay_page:
                break
            await asyncio.sleep(0)  # between pages, live fan-out and other clients get the loop
        self.skip_through = after
