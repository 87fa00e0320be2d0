"""Parse ``--source`` strings into validated :class:`SourceSpec` values.

Exports :class:`SourceKind`, :class:`SourceSpec`, :func:`make_spec` and :func:`parse_sources`.

Accepted forms, each optionally prefixed by ``ID=`` (``ID`` is a letter or ``_`` then letters,
digits, ``_``, ``-`` or ``.``)::

    0, 1, ...                  webcam index, read through OpenCV
    /dev/video0                webcam device, read through OpenCV
    rtsp://… rtsps://…         RTSP camera, read through PyAV
    http://… https://…         HTTP(S) stream, read through PyAV
    anything else              a video file, which must exist

Ids default to ``cam0``, ``cam1``, … for live sources (numbered in order, skipping ids already
taken) and to the file stem for files (``-2``, ``-3``, … added if taken). A string that names an
existing file is a file even if it contains ``=``. :func:`make_spec` checks one ``(id, target)``
pair the same way (the config file's ``sources:`` list).

A URL may carry credentials (``rtsp://user:password@host/…``, or ``?password=…`` as some cameras
take them): :func:`streamer.redact.redact` hides them, and every message and label here goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from streamer.redact import redact
from urllib.parse import urlsplit

__all__ = ["SourceKind", "SourceSpec", "make_spec", "parse_sources"]

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_DEVICE = re.compile(r"/dev/video\d+")


class SourceKind(str, Enum):
    """How a source is read."""

    FILE = "file"  # PyAV, ends at end of file
    WEBCAM = "webcam"  # OpenCV, live
    STREAM = "stream"  # PyAV network stream (RTSP, HTTP), live

    @property
    def live(self) -> bool:
        return self is not SourceKind.FILE


@dataclass(frozen=True)
class SourceSpec:
    """One parsed ``--source``: its ``id``, ``kind`` and ``target``.

    ``target`` is an ``int`` webcam index, a device path, a URL or a file path (as given); it is
    left out of the ``repr`` (a URL may hold a password): messages use :attr:`label`.
    """

    id: str
    kind: SourceKind
    target: int | str = field(repr=False)

    @property
    def live(self) -> bool:
        return self.kind.live

    @property
    def label(self) -> str:
        """The target for messages, with any password in a URL replaced by ``***``."""
        return redact(str(self.target)) if self.kind is SourceKind.STREAM else str(self.target)


def _split(spec: str) -> tuple[str | None, str]:
    """``(id, target)`` of one spec string; ``id`` is ``None`` when not given."""
    if "=" in spec and not Path(spec).is_file():
        head, _, rest = spec.partition("=")
        if "://" not in head and "/" not in head:
            if not _ID.fullmatch(head):
                raise ValueError(
                    f"--source {redact(spec)!r}: bad id {head!r} (a letter or '_' then letters, digits, '_', '-', '.')"
                )
            return head, rest
    return None, spec


def _classify(target: str) -> tuple[SourceKind, int | str]:
    """The kind and value of ``target``; ValueError saying what is wrong (without the target)."""
    if not target:
        raise ValueError("nothing to read after the id")
    if target.isdigit():
        return SourceKind.WEBCAM, int(target)
    if _DEVICE.fullmatch(target):
        return SourceKind.WEBCAM, target
    if "://" in target:
        scheme = target.split("://", 1)[0].lower()
        if scheme not in _STREAM_SCHEMES:
            raise ValueError(f"unsupported scheme {scheme!r} (use {', '.join(_STREAM_SCHEMES)}, a webcam index or a file)")
        if not urlsplit(target).hostname:
            raise ValueError("URL has no host")
        return SourceKind.STREAM, target
    path = Path(target)
    if not path.exists():
        raise ValueError("no such file")
    if not path.is_file():
        raise ValueError("not a regular file")
    return SourceKind.FILE, target


def make_spec(source_id: str, target: str) -> SourceSpec:
    """The spec of ``target`` (any form ``--source`` takes) under ``source_id``; ValueError
    naming the problem, starting with ``id:`` or ``url:`` (the password hidden)."""
    if not _ID.fullmatch(source_id):
        raise ValueError(f"id: bad id {source_id!r} (a letter or '_' then letters, digits, '_', '-', '.', at most 64)")
    try:
        kind, value = _classify(target.strip())
    except ValueError as exc:
        raise ValueError(f"url: {redact(target)!r}: {exc}") from None
    return SourceSpec(source_id, kind, value)


def parse_sources(specs: Sequence[str], reserved: Iterable[str] = ()) -> list[SourceSpec]:
    """Parse every ``--source`` string, give ids to those without, reject duplicate ids.

    Default ids skip ``reserved`` (the ids of the config file's sources), which a spec may
    still name explicitly. Raises :class:`ValueError` with a one-line message naming the bad spec.
    """
    parsed: list[tuple[str | None, SourceKind, int | str]] = []
    for spec in specs:
        given, target = _split(spec.strip())
        try:
            kind, value = _classify(target)
        except ValueError as exc:
            raise ValueError(f"--source {redact(spec)!r}: {exc}") from None
        parsed.append((given, kind, value))
    taken: set[str] = set(reserved)
    explicit: set[str] = set()
    for given, _, _ in parsed:
        if given is not None:
            if given in explicit:
                raise ValueError(f"--source {given}=…: the id {given!r} is used twice")
            explicit.add(given)
            taken.add(given)
    result: list[SourceSpec] = []
    next_cam = 0
    for given, kind, value in parsed:
        source_id = given
        if source_id is None and kind is SourceKind.FILE:
            stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(str(value)).stem) or "file"
            stem = stem if _ID.fullmatch(stem) else f"f_{stem}"[:64]
            source_id, n = stem, 1
            while source_id in taken:
                n += 1
                source_id = f"{stem}-{n}"
        elif source_id is None:
            while f"cam{next_cam}" in taken:
                next_cam += 1
            source_id = f"cam{next_cam}"
        taken.add(source_id)
        result.append(SourceSpec(source_id, kind, value))
    return result
