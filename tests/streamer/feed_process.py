"""A feed server in its own process, for restart tests: ``python feed_process.py LOG PORT FIRST COUNT``.

Serves on 127.0.0.1:PORT over the event log LOG, prints ``ready``, publishes
captions FIRST .. FIRST+COUNT-1, prints ``published <last seq>``, then serves
until stdin closes or the process is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # feedkit
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testlimits
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project

from feedkit import caption  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.server import FeedServer  # noqa: E402
from streamer.feed.server_config import ServerConfig  # noqa: E402


def main() -> None:
    log_path, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    bus = EventBus(SqliteEventLog(EventLogConfig(path=log_path)), sources=["cam0"])
    server = FeedServer(ServerConfig(port=port), bus)
    server.start()
    print("ready", flush=True)
    for i in range(first, first + count):
        sent = bus.publish(caption(i))
    print("published", sent["seq"] if count else bus.last_seq, flush=True)
    sys.stdin.read()
    server.stop()
    bus.close()


if __name__ == "__main__":
    main()
