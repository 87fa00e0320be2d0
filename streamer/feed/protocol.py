"""Protocol v1 of the jepa-stream event feed, with no I/O.

Everything here takes values and returns values: event dicts become wire
messages, and client text becomes a :class:`Subscription` or a
:class:`ProtocolError`. The per-client limits are in :mod:`streamer.feed.limits`.
The bus and the server wrap these rules around threads and sockets;
``docs/PROTOCOL.md`` describes them for client authors.

Exports: ``PROTOCOL_VERSION``, ``DEFAULT_URL``, ``TOKEN_ENV``, ``SUBPROTOCOL``,
``TOKEN_SUBPROTOCOL_PREFIX``, ``token_subprotocol``, ``EMBEDDING_FRAME_MAGIC``,
``EventType``, ``LOGGED_TYPES``, ``EmbeddingFormat``, ``ErrorReason``,
``CloseCode``, ``ProtocolError``, ``Subscription``, ``Outgoing``, ``dumps``,
``event_type``, ``prepare_event``, ``parse_client_message``,
``hello_message``, ``subscribed_message``, ``error_message``,
``lagging_message``, ``decode_embedding_frame``, ``embedding_array``,
``load_schema``.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

PROTOCOL_VERSION = 1
#: Where ``jepa-stream run`` serves the feed by default.
DEFAULT_URL = "ws://127.0.0.1:8765/"
#: Environment variable holding the feed's auth token (read once, at start).
TOKEN_ENV = "JEPA_STREAM_TOKEN"
#: The WebSocket subprotocol a browser offers (the server answers it, so the browser accepts).
SUBPROTOCOL = "jepa-stream.v1"
#: A browser cannot set headers on a WebSocket: it offers the token as a second subprotocol,
#: this prefix + the token in unpadded base64url (:func:`token_subprotocol`).
TOKEN_SUBPROTOCOL_PREFIX = "bearer.jepa-stream."

_SCHEMA_DIR = Path(__file__).parent / "schemas"
#: Magic bytes opening a binary embedding frame.
EMBEDDING_FRAME_MAGIC = b"JSEM"
_FRAME_PREFIX = struct.Struct("<4sI")  # magic, header length in bytes


class EventType(str, Enum):
    """Types of event the server sends to subscribers."""

    CAPTION = "caption"
    STATUS = "status"
    STATS = "stats"
    EMBEDDING = "embedding"
    BASELINE_CAPTION = "baseline_caption"
    ENRICHMENT = "enrichment"
    SCENE = "scene"


#: Event types appended to the durable log: they carry a ``seq`` and are resumable.
#: The others are ephemeral: no ``seq``, never replayed, dropped first under backpressure.
LOGGED_TYPES = frozenset({EventType.CAPTION, EventType.STATUS, EventType.BASELINE_CAPTION, EventType.ENRICHMENT, EventType.SCENE})


class EmbeddingFormat(str, Enum):
    """How a subscriber receives embeddings."""

    BASE64 = "base64"  # a JSON text message with float16 data in base64
    BINARY = "binary"  # a binary frame: prefix, JSON header, float16 data


class ErrorReason(str, Enum):
    """The ``reason`` field of an ``error`` message."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_BIG = "too_big"
    BINARY_NOT_ACCEPTED = "binary_not_accepted"
    RATE_LIMITED = "rate_limited"
    FROM_SEQ_EXPIRED = "from_seq_expired"
    FROM_SEQ_AHEAD = "from_seq_ahead"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses."""

    GOING_AWAY = 1001  # server shutting down: reconnect later, resume from last seq
    POLICY_VIOLATION = 1008  # repeated bad messages (abuse)
    MESSAGE_TOO_BIG = 1009  # a frame above the hard frame limit
    INTERNAL_ERROR = 1011  # keepalive timeout or server fault
    TRY_AGAIN_LATER = 1013  # connection cap reached by handshakes that raced past the HTTP 503 check
    RESUME = 4000  # queue overflowed with logged events: reconnect with from_seq


class ProtocolError(Exception):
    """A client message the server answers with an ``error`` message."""

    def __init__(self, reason: ErrorReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def token_subprotocol(token: str) -> str:
    """The ``Sec-WebSocket-Protocol`` entry that carries ``token`` (offered beside :data:`SUBPROTOCOL`)."""
    return TOKEN_SUBPROTOCOL_PREFIX + base64.urlsafe_b64encode(token.encode()).decode("ascii").rstrip("=")


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """Return the JSON Schema of message type ``name`` (``streamer/feed/schemas/<name>.json``)."""
    path = _SCHEMA_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no schema for message type {name!r} (looked for {path})")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Outgoing:
    """One event ready to send: serialized once, shared by every subscriber and sink.

    ``seq`` is None for ephemeral types. ``message`` is the event as sent (a dict
    that nobody may modify), ``text`` the same as JSON and ``utf8`` encoded once
    for every connection that sends it. ``binary`` is the binary embedding frame
    (embeddings only).
    """

    type: EventType
    source: str
    seq: int | None
    wall_time: float | None
    text: str
    utf8: bytes
    binary: bytes | None = None
    message: Mapping[str, Any] | None = None


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def dumps(message: Mapping[str, Any]) -> str:
    """Serialize a message compactly; numpy scalars become numbers, NaN is an error."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False, default=_to_builtin)


def _check_fields(event: Mapping[str, Any], kind: EventType) -> None:
    schema = load_schema(kind.value)
    missing = [k for k in schema["required"] if k not in event and k != "seq"]
    if missing:
        raise ValueError(f"{kind.value} event is missing field(s) {', '.join(missing)}")
    if schema.get("additionalProperties", True) is False:
        unknown = sorted(k for k in event if k not in schema["properties"])
        if unknown:
            raise ValueError(f"{kind.value} event has unknown field(s) {', '.join(unknown)}")


def event_type(event: Mapping[str, Any]) -> EventType:
    """Return the type of a pipeline event; raise ValueError naming a bad ``type`` or ``v``."""
    if not isinstance(event, Mapping):
        raise ValueError(f"event must be a dict, not {type(event).__name__}")
    if event.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"event field v must be {PROTOCOL_VERSION}, got {event.get('v')!r}")
    try:
        return EventType(event.get("type"))
    except ValueError:
        known = ", ".join(t.value for t in EventType)
        raise ValueError(f"event type {event.get('type')!r} is unknown (known: {known})") from None


def prepare_event(event: Mapping[str, Any], seq: int | None) -> Outgoing:
    """Validate a pipeline event and serialize it for the wire.

    Logged types (:data:`LOGGED_TYPES`: caption, status, baseline_caption,
    enrichment, scene) need ``seq`` (it replaces any ``seq`` in ``event``); ephemeral
    types (stats, embedding) must get ``seq=None`` and lose any ``seq`` they
    carry. An embedding event carries ``embedding`` (a 1-D numpy array); it is
    sent as float16 in ``data`` (base64), with ``dim`` and ``dtype``, and also
    encoded as a binary frame. Numpy scalars become JSON numbers. Raises
    ValueError naming the missing/unknown field or the non-serializable value.
    The input dict is not modified.
    """
    kind = event_type(event)
    if (seq is None) == (kind in LOGGED_TYPES):
        raise ValueError(f"{kind.value} events {'need' if seq is None else 'take no'} seq")
    if not isinstance(event.get("source"), str) or not event.get("source"):
        raise ValueError(f"{kind.value} event field source must be a non-empty string")
    message = {k: v for k, v in event.items() if k != "seq"}
    half = None
    if kind is EventType.EMBEDDING:
        if "embedding" not in message:
            raise ValueError("embedding event is missing field embedding (a 1-D numpy array)")
        vector = np.asarray(message.pop("embedding"))
        if vector.ndim != 1 or vector.size == 0 or not np.issubdtype(vector.dtype, np.floating):
            raise ValueError(f"embedding must be a non-empty 1-D float array, got {vector.dtype} {vector.shape}")
        half = vector.astype("<f2")
        message.update(dim=int(half.size), dtype="float16", data=base64.b64encode(half.tobytes()).decode("ascii"))
    _check_fields(message, kind)
    if seq is not None:
        message = {"v": message["v"], "type": message["type"], "seq": seq, **message}
    try:
        text = dumps(message)
        binary = None
        if half is not None:
            header = dumps({k: v for k, v in message.items() if k != "data"}).encode()
            binary = _FRAME_PREFIX.pack(EMBEDDING_FRAME_MAGIC, len(header)) + header + half.tobytes()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{kind.value} event is not JSON-serializable: {exc}") from None
    wall_time = message.get("wall_time")
    return Outgoing(kind, message["source"], seq, wall_time, text, text.encode(), binary, message)


def decode_embedding_frame(frame: bytes) -> tuple[dict, np.ndarray]:
    """Split a binary embedding frame into its JSON header and float16 vector."""
    if len(frame) < _FRAME_PREFIX.size:
        raise ValueError(f"embedding frame is {len(frame)} bytes, shorter than its {_FRAME_PREFIX.size}-byte prefix")
    magic, header_len = _FRAME_PREFIX.unpack_from(frame)
    if magic != EMBEDDING_FRAME_MAGIC:
        raise ValueError(f"embedding frame starts with {magic!r}, expected {EMBEDDING_FRAME_MAGIC!r}")
    start = _FRAME_PREFIX.size + header_len
    header = json.loads(frame[_FRAME_PREFIX.size:start].decode("utf-8"))
    vector = np.frombuffer(frame[start:], dtype="<f2")
    if vector.size != header.get("dim"):
        raise ValueError(f"embedding frame holds {vector.size} values, header says dim={header.get('dim')}")
    return header, vector


def embedding_array(message: Mapping[str, Any]) -> np.ndarray:
    """Return the float16 vector of a base64 ``embedding`` message."""
    vector = np.frombuffer(base64.b64decode(message["data"]), dtype="<f2")
    if vector.size != message["dim"]:
        raise ValueError(f"embedding data holds {vector.size} values, dim is {message['dim']}")
    return vector


@dataclass(frozen=True)
class Subscription:
    """What a client asked for. ``sources=None`` means every source.

    ``from_seq=None`` means live events only; an integer asks for every logged
    event with a larger seq first, then the live stream.
    """

    types: frozenset[EventType] = frozenset({EventType.CAPTION, EventType.STATUS})
    sources: frozenset[str] | None = None
    from_seq: int | None = None
    embedding_format: EmbeddingFormat = EmbeddingFormat.BASE64

    def wants(self, event: Outgoing) -> bool:
        """Whether ``event`` passes this subscription's filters."""
        return event.type in self.types and (self.sources is None or event.source in self.sources)


_SUBSCRIBE_FIELDS = ("v", "type", "types", "sources", "from_seq", "embedding_format")


def _string_list(message: Mapping[str, Any], key: str) -> list[str]:
    value = message[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProtocolError(ErrorReason.BAD_MESSAGE, f"subscribe field {key} must be a list of non-empty strings")
    if len(value) > 64:
        raise ProtocolError(ErrorReason.BAD_MESSAGE, f"subscribe field {key} lists {len(value)} items; at most 64")
    return value


def parse_client_message(data: str | bytes, max_bytes: int) -> Subscription:
    """Parse one client message into a :class:`Subscription`.

    The only client message of protocol v1 is ``subscribe``. Raises
    :class:`ProtocolError` for binary data, a message over ``max_bytes``
    (UTF-8), invalid JSON, a non-object, a ``v`` other than 1, a ``type``
    other than ``subscribe``, an unknown field, or a field of the wrong type.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(ErrorReason.BINARY_NOT_ACCEPTED, "binary messages are not accepted; send JSON text")
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ProtocolError(ErrorReason.TOO_BIG, f"message is {size} bytes; the limit is {max_bytes}")
    try:
        message = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorReason.BAD_JSON, f"message is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorReason.BAD_MESSAGE, f"message must be a JSON object, not {type(message).__name__}")
    if message.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise ProtocolError(ErrorReason.UNSUPPORTED_VERSION, f"protocol v{message['v']!r} is not supported; use v 1")
    if message.get("type") != "subscribe":
        raise ProtocolError(ErrorReason.UNKNOWN_TYPE, f"message type {message.get('type')!r} is unknown; clients send 'subscribe'")
    unknown = sorted(str(k) for k in message if k not in _SUBSCRIBE_FIELDS)
    if unknown:
        raise ProtocolError(ErrorReason.BAD_MESSAGE, f"subscribe has unknown field(s) {', '.join(unknown)}")
    types = Subscription.types
    if "types" in message:
        try:
            types = frozenset(EventType(t) for t in _string_list(message, "types"))
        except ValueError:
            known = ", ".join(t.value for t in EventType)
            raise ProtocolError(ErrorReason.BAD_MESSAGE, f"subscribe field types may only hold {known}") from None
    sources = None
    if message.get("sources") is not None:
        sources = frozenset(_string_list(message, "sources"))
    from_seq = message.get("from_seq")
    if from_seq is not None and (type(from_seq) is not int or from_seq < 0):
        raise ProtocolError(ErrorReason.BAD_MESSAGE, "subscribe field from_seq must be an integer >= 0 or null")
    try:
        embedding_format = EmbeddingFormat(message.get("embedding_format", EmbeddingFormat.BASE64.value))
    except ValueError:
        raise ProtocolError(ErrorReason.BAD_MESSAGE, "subscribe field embedding_format must be 'base64' or 'binary'") from None
    return Subscription(types, sources, from_seq, embedding_format)


def hello_message(*, server: str, sources: list[str], profile: str | None,
                  last_seq: int, first_seq: int | None, limits: Mapping[str, Any]) -> str:
    """The first message on every connection."""
    return dumps({"v": PROTOCOL_VERSION, "type": "hello", "protocol": PROTOCOL_VERSION, "server": server,
                   "sources": sorted(sources), "profile": profile, "last_seq": last_seq, "first_seq": first_seq,
                   "types": [t.value for t in EventType], "limits": dict(limits)})


def subscribed_message(sub: Subscription, last_seq: int) -> str:
    """The acknowledgement of a ``subscribe``; replayed events follow it."""
    return dumps({"v": PROTOCOL_VERSION, "type": "subscribed", "types": sorted(t.value for t in sub.types),
                   "sources": None if sub.sources is None else sorted(sub.sources),
                   "from_seq": sub.from_seq, "embedding_format": sub.embedding_format.value,
                   "last_seq": last_seq})


def error_message(reason: ErrorReason, detail: str) -> str:
    """An ``error`` message: the connection stays open unless a close follows."""
    return dumps({"v": PROTOCOL_VERSION, "type": "error", "reason": reason.value, "detail": detail})


def lagging_message(dropped: Mapping[str, int], queued: int, queue_max: int) -> str:
    """A ``lagging`` notice: cumulative counts of events dropped for this client."""
    return dumps({"v": PROTOCOL_VERSION, "type": "lagging", "dropped": dict(dropped),
                   "queued": queued, "queue_max": queue_max})
