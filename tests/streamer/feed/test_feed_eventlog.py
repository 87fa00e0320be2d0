"""The durable event log: WAL mode, resume reads, retention, restarts."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys

import pytest

from streamer.feed.eventlog import EventLog, EventLogConfig
from testlimits import TIMEOUT_S


def add(log: EventLog, seq: int, type: str = "caption", source: str = "cam0", wall_time: float = 1000.0) -> None:
    log.append(seq, type, source, wall_time, json.dumps({"type": type, "seq": seq, "source": source}))


def test_log_is_sqlite_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "events.sqlite"
    EventLog(EventLogConfig(path=str(path))).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_read_after_returns_later_events_in_order_with_filters(tmp_path):
    log = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite")))
    for seq, type, source in [(1, "caption", "cam0"), (2, "status", "cam1"), (3, "caption", "cam1"),
                              (4, "caption", "cam0")]:
        add(log, seq, type, source)
    assert [e["seq"] for e in log.read_after(0)] == [1, 2, 3, 4]
    assert [e["seq"] for e in log.read_after(1, limit=2)] == [2, 3]
    assert [e["seq"] for e in log.read_after(0, types=["caption"])] == [1, 3, 4]
    assert [e["seq"] for e in log.read_after(0, sources=["cam1"])] == [2, 3]
    assert [e["seq"] for e in log.read_after(1, types=["caption"], sources=["cam0"])] == [4]
    assert log.read_after(4) == [] and log.read_after(0, types=[]) == []
    assert log.sources() == ["cam0", "cam1"]


def test_a_seq_can_only_be_stored_once(tmp_path):
    log = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite")))
    add(log, 1)
    with pytest.raises(ValueError, match="already holds seq 1"):
        add(log, 1)


def test_log_survives_reopening_and_keeps_its_last_seq(tmp_path):
    config = EventLogConfig(path=str(tmp_path / "e.sqlite"))
    log = EventLog(config)
    for seq in (1, 2, 3):
        add(log, seq, wall_time=2e9)
    log.close()
    reopened = EventLog(config)
    assert reopened.last_seq == 3 and reopened.first_seq == 1
    assert [e["seq"] for e in reopened.read_after(1)] == [2, 3]


def test_retention_by_count_keeps_the_newest(tmp_path):
    log = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite"), retention_max_events=3))
    for seq in range(1, 8):
        add(log, seq, wall_time=2e9)
    assert log.prune() == 4
    assert [e["seq"] for e in log.read_after(0)] == [5, 6, 7]
    assert (log.first_seq, log.last_seq) == (5, 7)


def test_retention_by_size_keeps_the_newest_within_the_bound(tmp_path):
    log = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite"), retention_max_bytes=None, fsync=False))
    for seq in range(1, 2001):
        log.append(seq, "caption", "cam0", 2e9, json.dumps({"seq": seq, "text": "x" * 1000}))
    assert log.used_bytes() > 2_000_000
    log.close()
    bounded = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite"), retention_max_bytes=500_000))
    assert bounded.used_bytes() <= 500_000, "opening the log applies retention"
    kept = bounded.read_after(0, limit=5000)
    assert 200 < len(kept) < 500 and kept[-1]["seq"] == 2000 == bounded.last_seq
    assert [e["seq"] for e in kept] == list(range(2001 - len(kept), 2001)), "the oldest went first"


def test_retention_by_age_never_lowers_the_last_seq(tmp_path):
    config = EventLogConfig(path=str(tmp_path / "e.sqlite"), retention_max_age_s=100.0)
    log = EventLog(config)
    for seq, wall_time in [(1, 1000.0), (2, 1050.0), (3, 1200.0)]:
        add(log, seq, wall_time=wall_time)
    assert log.prune(now=1260.0) == 2
    assert [e["seq"] for e in log.read_after(0)] == [3]
    assert log.prune(now=5000.0) == 1
    assert (log.first_seq, log.last_seq) == (None, 3)
    log.close()
    assert EventLog(config).last_seq == 3, "a restart continues after the largest seq ever stored"


def test_config_rejects_bad_values_naming_them():
    with pytest.raises(ValueError, match="retention_max_events"):
        EventLogConfig(retention_max_events=0)
    with pytest.raises(ValueError, match="retention_max_age_s"):
        EventLogConfig(retention_max_age_s=-1)
    with pytest.raises(ValueError, match="retention_max_bytes must be an integer >= 1 or null"):
        EventLogConfig(retention_max_bytes=1.5)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match=f"event log {path}: not a usable SQLite database"):
        EventLog(EventLogConfig(path=str(path)))


def test_a_log_with_damaged_pages_is_a_one_line_error(tmp_path):
    path = tmp_path / "e.sqlite"
    log = EventLog(EventLogConfig(path=str(path), retention_max_bytes=None, fsync=False))
    for seq in range(1, 3001):
        log.append(seq, "caption", "cam0", 2e9, json.dumps({"seq": seq, "text": "x" * 1000}))
    log.close()
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // 4096, 7):  # the header page stays intact
        data[page * 4096:(page + 1) * 4096] = os.urandom(4096)
    path.write_bytes(data)
    with pytest.raises(ValueError) as error:
        EventLog(EventLogConfig(path=str(path)))
    message = str(error.value)
    assert message.startswith(f"event log {path}: not a usable SQLite database") and "malformed" in message
    assert "\n" not in message


def test_a_zero_byte_file_is_a_new_log_and_says_so(tmp_path, caplog):
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="streamer.feed.eventlog"):
        log = EventLog(EventLogConfig(path=str(path)))
    assert log.last_seq == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"event log {path}: the file is empty (0 bytes); starting a new log in it"]
    log.close()


def test_a_second_process_is_refused_with_the_pid_that_holds_the_log(tmp_path):
    path = tmp_path / "e.sqlite"
    log = EventLog(EventLogConfig(path=str(path)))
    opener = ("import sys; from streamer.feed.eventlog import EventLog, EventLogConfig\n"
              "try:\n    EventLog(EventLogConfig(path=sys.argv[1]))\n"
              "except ValueError as e:\n    print(e)\nelse:\n    print('opened')")
    refused = subprocess.run([sys.executable, "-c", opener, str(path)], capture_output=True, text=True,
                             timeout=TIMEOUT_S)
    assert refused.stdout.strip().startswith(f"event log {path}: in use by process {os.getpid()} ")
    log.close()
    opened = subprocess.run([sys.executable, "-c", opener, str(path)], capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert opened.stdout.strip() == "opened", "the lock goes with close()"
