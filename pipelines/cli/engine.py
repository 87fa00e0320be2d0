"""A run's event bus on the event engine (``run --bus``): the worker side of docs/SCALING.md.

Exports :func:`engine_bus`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pipelines.config import Config
from pipelines.decoder_config import DecoderType
from pipelines.errors import UsageError
from streamer.feed.bus import EventBus
from streamer.feed.engine import LiveSink, open_engine
from streamer.feed.snapshot_bucket import SnapshotBucket

__all__ = ["engine_bus"]


@contextlib.contextmanager
def engine_bus(config: Config, sources: list[str]) -> Iterator[tuple[EventBus, SnapshotBucket]]:
    """An :class:`EventBus` whose log is the site's stream, behind an outbox, and whose stats and
    embeddings also go on the engine's core subjects; and the site's snapshot bucket, where the
    run's snapshots go too. It does not wait for the engine: a run starts
    and analyses while it is down. On leaving, what the outbox holds is sent (bounded), then the
    connection closes. Raises UsageError for ``mqtt:`` and ``webhooks:`` (a worker sees only its
    own cameras: they belong on a gateway), for the ``vlm`` decoder (its enrichments name their
    caption's seq, which the engine gives only later) and for unreadable TLS files."""
    if config.mqtt.url or config.webhooks.urls:
        raise UsageError("mqtt: and webhooks: are not for a run --bus worker, which sees only its own cameras: "
                         "put webhooks: in the config of one gateway (serve --bus); mqtt: on a bus site is not built yet")
    if config.model.decoder.type is DecoderType.VLM:
        raise UsageError("model.decoder.type vlm does not run with --bus yet (an enrichment names its caption's "
                         "seq, which the engine assigns later); use the retrieval decoder")
    b = config.feed.bus
    try:
        engine = open_engine(b, config.feed.log, "worker")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    bus = EventBus(engine.log, sources=sources, profile=config.model.encoder.network, outbox_max=b.outbox_max,
                   retry_s=b.reconnect_wait_s)
    bus.add_sink(LiveSink(engine.link, b))
    bucket = SnapshotBucket(engine.link, b, config.feed.snapshots, config.feed.log.retention_max_age_s)
    try:
        yield bus, bucket
    finally:
        bus.close()
        bucket.flush(bus.CLOSE_DRAIN_S)
        engine.close()
