"""The cameras of a config file: the top-level ``sources:`` list.

Exports :class:`SourceEntry` and :func:`split_sources`.

YAML form (``url`` takes anything ``--source`` does; every other key is a per-source capture
override, checked as ``capture:`` checks its own keys)::

    sources:
      - id: door
        url: rtsp://viewer:${DOOR_PASSWORD}@10.0.0.5/stream1
        rtsp_transport: udp
        stall_timeout_s: 30
      - {id: lobby, url: /dev/video0}

Ids are required and unique; a file lists at most :data:`MAX_SOURCES` (256). The overrides are not kept here: :func:`split_sources` hands them
to the ``capture`` section (``capture.sources.<id>``), the one place that knows per-source
capture settings (:class:`~streamer.capture.capture_config.CaptureConfig`), so a source from
the command line and one from this list are overridden the same way. The same id under both
``sources`` and ``capture.sources`` is an error (one place per source). A URL is never shown
whole in a message: its password is replaced by ``***``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from configs.loader import ConfigError
from streamer.capture.capture_config import CaptureConfig
from streamer.capture.source_spec import SourceSpec, make_spec
from streamer.redact import redact

__all__ = ["SourceEntry", "split_sources"]

#: Most sources one config file may list (each is a capture thread and a pipeline).
MAX_SOURCES = 256


@dataclass(frozen=True)
class SourceEntry:
    """One configured source: its ``id`` and ``url`` (a stream URL, a webcam index or device,
    or a file). ``url`` may hold a password: it is left out of the ``repr``."""

    id: str
    url: str = field(repr=False)

    def __post_init__(self) -> None:
        self.spec()  # a bad id or URL is a ConfigError at load time, not when the run starts

    def spec(self) -> SourceSpec:
        """The :class:`SourceSpec` the capture opens."""
        return make_spec(self.id, self.url)

    @property
    def label(self) -> str:
        return redact(self.url)


def split_sources(entries: Any, capture: Mapping[str, Any], where: str = "sources") -> tuple[list[dict], dict[str, dict]]:
    """Split the ``sources`` list into ``[{id, url}]`` and ``{id: overrides}``.

    ``capture`` is the ``capture`` section the overrides will join (its own ``sources`` must not
    name the same ids); each entry's overrides are checked against it now, so an error names
    ``sources[i].key`` as the user wrote it. Raises :class:`ConfigError`.
    """
    if entries is None:
        return [], {}
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: expected a list of {{id, url, ...}}, got {type(entries).__name__}")
    if len(entries) > MAX_SOURCES:
        raise ConfigError(f"{where}: {len(entries)} sources, at most {MAX_SOURCES}")
    elsewhere = capture.get("sources") or {}
    base = {k: v for k, v in capture.items() if k != "sources"}
    out: list[dict] = []
    overrides: dict[str, dict] = {}
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{at}: expected a mapping with id and url, got {type(entry).__name__}")
        for key in ("id", "url"):
            if key not in entry:
                raise ConfigError(f"{at}.{key}: missing (every source needs an id and a url)")
        source_id = entry["id"]
        if not isinstance(source_id, str):
            raise ConfigError(f"{at}.id: expected str, got {type(source_id).__name__} {source_id!r}")
        if source_id in overrides:
            raise ConfigError(f"{at}.id: {source_id!r} is used twice")
        if isinstance(elsewhere, Mapping) and source_id in elsewhere:
            raise ConfigError(f"{at}: the overrides of {source_id!r} are also under capture.sources.{source_id}; keep one")
        own = {k: v for k, v in entry.items() if k not in ("id", "url")}
        if "sources" in own:
            raise ConfigError(f"{at}.sources: overrides cannot nest")
        CaptureConfig.from_mapping({**base, **own}, at)  # checked where the user wrote them
        out.append({"id": source_id, "url": entry["url"]})
        overrides[source_id] = own
    return out, overrides
