"""The event log as one interface, and the stable message id of a logged event.

Exports: ``EventLog``, ``LogUnavailable``, ``message_id``.

Two implementations: :class:`~streamer.feed.eventlog.SqliteEventLog` (one machine, the default)
and :class:`~streamer.feed.jetstream_log.JetStreamLog` (the NATS JetStream engine, ``--bus``).
In both the log assigns the seq: SQLite takes the next integer, JetStream the stream sequence
from the publish acknowledgement, so any number of publishers never collide.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from streamer.feed.protocol import EventType, Outgoing

__all__ = ["EventLog", "LogUnavailable", "message_id"]


class LogUnavailable(RuntimeError):
    """The log cannot answer now (its engine is down or without a leader); try again later."""


class EventLog(Protocol):
    """An append-only, seq-ordered store of logged events (caption, status, baseline caption, enrichment)."""

    @property
    def last_seq(self) -> int:
        """The largest seq ever stored (0 for an empty log); retention does not lower it."""

    @property
    def first_seq(self) -> int | None:
        """The oldest seq still stored, or None when nothing is."""

    def append(self, event: Outgoing) -> int:
        """Store ``event`` (a logged type, prepared with a placeholder seq) durably; return its seq.

        The same event appended twice (a re-send after a lost acknowledgement) may be stored
        once; the log then returns the first seq.
        """

    def read_wire_after(self, seq: int, types: Iterable[str] | None = None, sources: Iterable[str] | None = None,
                        limit: int = 1000) -> list[tuple[int, str]]:
        """Up to ``limit`` ``(seq, wire JSON)`` pairs with a seq above ``seq``, in seq order, filtered
        by ``types`` and ``sources`` (None: no filter); fewer than ``limit`` only at the end."""

    def sources(self) -> list[str]:
        """Names of the sources with events in the log, sorted."""

    def close(self) -> None:
        """Release the log (what was appended stays)."""


def message_id(origin: str, event: Outgoing) -> str:
    """A stable id for ``event``: the same for a re-send of it, different for any other event.

    ``origin`` names the publishing run (fixed for a process's life), then source, media time
    (``t``, else ``wall_time``), type, for enrichments the caption's seq, and for status and
    enrichment events the state: ``host-123-1764460000|cam0|12.480|caption``. The origin keeps a
    camera that restarts at media time 0 (a new run, or another worker taking it over) from
    colliding with its previous run's ids inside the engine's duplicate window.
    """
    m = event.message
    when = m.get("t", m.get("wall_time"))
    parts = [origin, event.source, f"{when:.3f}" if isinstance(when, (int, float)) else str(when), event.type.value]
    if event.type is EventType.ENRICHMENT:
        parts.append(str(m["caption_seq"]))
    if event.type in (EventType.STATUS, EventType.ENRICHMENT):
        parts.append(str(m["state"]))
    return "|".join(parts)
