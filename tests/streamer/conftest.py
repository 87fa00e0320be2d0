"""Fixtures for the event-feed tests: a bus over a temporary log and a running server."""

from __future__ import annotations

import pytest

from feedkit import running
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog


@pytest.fixture
def log_config(tmp_path):
    return EventLogConfig(path=str(tmp_path / "events.sqlite"))


@pytest.fixture
def bus(log_config):
    bus = EventBus(SqliteEventLog(log_config), sources=["cam0"], profile="lite")
    yield bus
    bus.close()


@pytest.fixture
def server(bus):
    with running(bus) as server:
        yield server
