"""A run's event bus and its outputs, opened before the models so that what can refuse a run is found first.

Exports :func:`open_bus` and :func:`start_outputs`.

:func:`open_bus` names a bad ``--events-out``, opens the durable log (or the engine's stream with
``feed.bus.url``) and checks the feed port, holding nothing a refused run would leave behind;
:func:`start_outputs` opens the outputs besides the feed once the models are loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipelines.config import Config
from pipelines.errors import UsageError
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog
from streamer.feed.sinks import ConsoleSink, JsonlSink, Sink

__all__ = ["open_bus", "start_outputs"]


@contextlib.contextmanager
def _event_log(config: EventLogConfig | None) -> Iterator[SqliteEventLog]:
    """The durable log of ``config``, or one in a temporary folder removed afterwards."""
    with contextlib.ExitStack() as stack:
        if config is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="jepa-stream-"))
            config = EventLogConfig(os.path.join(folder, "events.sqlite"), fsync=False)
        try:
            log = SqliteEventLog(config)
        except ValueError as exc:  # its message names the log and the problem (e.g. held by another process)
            raise UsageError(str(exc)) from None
        stack.callback(log.close)
        yield log


@contextlib.contextmanager
def _event_bus(config: Config, sources: list[str], log_config: EventLogConfig | None):
    """The run's event bus and snapshot bucket: on the engine with ``feed.bus.url`` (its object
    store holds the snapshots), else over the durable log (no bucket)."""
    from pipelines.cli.engine import engine_bus
    from streamer.feed.bus import EventBus

    if config.feed.bus.url:
        with engine_bus(config, sources) as (bus, bucket):
            yield bus, bucket
    else:
        with _event_log(log_config) as log:
            yield EventBus(log, sources=sources, profile=config.model.encoder.network), None


def _outputs(args: argparse.Namespace, *, print_captions: bool, print_status: bool) -> list[Sink]:
    """The outputs of a run besides the WebSocket feed, one line each (a new output is one more)."""
    outputs: list[Sink] = [ConsoleSink(captions=print_captions, status=print_status)]
    if args.events_out:
        try:
            outputs.append(JsonlSink(args.events_out, overwrite=args.overwrite))
        except OSError as exc:
            raise UsageError(str(exc)) from None
    return outputs


def _check_events_out(args: argparse.Namespace) -> None:
    """Name a bad ``--events-out`` before anything slow, changing no file: one that exists
    without ``--overwrite`` (the sink's own refusal), or one whose folder cannot be written."""
    if not args.events_out:
        return
    path = Path(args.events_out)
    if path.exists() and not args.overwrite:
        try:
            JsonlSink(path)  # refuses the existing file with its one-line message, touching nothing
        except OSError as exc:
            raise UsageError(str(exc)) from None
    target = path if path.exists() else path.parent
    if not path.parent.is_dir() or not os.access(target, os.W_OK):
        raise UsageError(f"{path}: cannot write events (cannot write in {path.parent})")


def _check_port(server_config) -> None:
    """A taken feed port as the one-line usage error that suggests ``--port`` (nothing is held)."""
    from streamer.feed.server import check_port_free

    try:
        check_port_free(server_config)
    except OSError as exc:
        raise UsageError(str(exc)) from None


def _stop_all(sinks: list[Sink]) -> None:
    """Stop every output: each writes everything it took first."""
    for sink in sinks:
        sink.stop()


def open_bus(args, specs, config, log_config, stack, *, serve: bool):
    """The event bus (on the engine with ``feed.bus.url``, else over the durable log), the engine's
    snapshot bucket (None without one), and the list the outputs join later (:func:`start_outputs`),
    stopped by ``stack`` last of all, so everything taken is written. What can refuse a run is
    found here, before any model loads and touching no file: a bad ``--events-out`` (before the
    log), a log another run holds, then a taken feed port."""
    _check_events_out(args)
    outputs: list[Sink] = []
    stack.callback(_stop_all, outputs)  # registered first, so stopped last: the scenes' and the decoder's last events reach them
    bus, bucket = stack.enter_context(_event_bus(config, [s.id for s in specs], log_config))
    if serve:
        _check_port(config.feed.server)
    return bus, bucket, outputs


def start_outputs(args, bus, outputs: list[Sink], *, print_captions: bool, print_status: bool) -> None:
    """Open the outputs besides the feed (:func:`_outputs`) into ``outputs`` and start them on ``bus``.
    Called once the log and the port are held and the models loaded: a run that cannot start
    leaves an existing ``--events-out`` (even with ``--overwrite``) as it was."""
    for sink in _outputs(args, print_captions=print_captions, print_status=print_status):
        outputs.append(sink)
        sink.start()
        bus.add_sink(sink)
