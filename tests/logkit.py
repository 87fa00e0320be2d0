"""Event logs damaged the way a disk or a careless copy damages them, for the tests of the one-line error.

Exports :func:`damage_table_pages`.
"""

from __future__ import annotations

import random

from streamer.feed.eventlog import EventLogConfig, SqliteEventLog
from streamer.feed.protocol import prepare_event


def damage_table_pages(path) -> None:
    """Write a log of 200 events at ``path``, then random bytes inside its table pages, every page
    header intact: the file still opens, and the damage shows only when a query reads those pages."""
    log = SqliteEventLog(EventLogConfig(path=str(path), retention_max_bytes=None, fsync=False))
    for seq in range(1, 201):
        log.append(prepare_event({"v": 1, "type": "caption", "seq": 0, "source": "cam0", "t": float(seq),
                                  "t_start": seq - 2.0, "t_end": float(seq), "wall_time": 2e9, "text": "x" * 1000,
                                  "labels": [], "drift": 0.3, "reason": "change",
                                  "latency_ms": {"encode": 1.0, "predict": 0.1, "decode": 0.5, "total": 2.0}}, 0))
    log.close()
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    for page in range(3, len(data) // 4096 - 2):
        data[page * 4096 + 200:page * 4096 + 4000] = rng.randbytes(3800)
    path.write_bytes(data)
