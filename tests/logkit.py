"""Event logs damaged the way a disk or a careless copy damages them, for the tests of the one-line error.

Exports :func:`damage_table_pages`.
"""

from __future__ import annotations

import json
import random

from streamer.feed.eventlog import EventLog, EventLogConfig


def damage_table_pages(path) -> None:
    """Write a log of 200 events at ``path``, then random bytes inside its table pages, every page
    header intact: the file still opens, and the damage shows only when a query reads those pages."""
    log = EventLog(EventLogConfig(path=str(path), retention_max_bytes=None, fsync=False))
    for seq in range(1, 201):
        log.append(seq, "caption", "cam0", 2e9, json.dumps({"seq": seq, "text": "x" * 1000}))
    log.close()
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    for page in range(3, len(data) // 4096 - 2):
        data[page * 4096 + 200:page * 4096 + 4000] = rng.randbytes(3800)
    path.write_bytes(data)
