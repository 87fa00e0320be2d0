"""``jepa-stream replay`` and ``jepa-stream run``: analyse sources and send the events to the outputs.

Exports :func:`add_parsers`.

This is the one visible place where a run is joined: the outputs, the durable log and the event
bus (:mod:`pipelines.cli.outputs`), the models, the pipelines with their observers, the WebSocket feed and
the capture threads, in :func:`_analyse`. Models, decoders and sockets are imported by the
handlers, not by this module, so the command line starts without them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipelines.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, INTERRUPTED, REDACT, hide, note_unused_sources
from pipelines.config import Config, load_config
from pipelines.errors import UsageError
from pipelines.cli.options import add_baseline_options, add_model_options, apply_model_options
from pipelines.cli.outputs import open_bus, start_outputs
from pipelines.progress import Progress, count_of
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.protocol import TOKEN_ENV
from streamer.secrets import redact
from streamer.capture.source_spec import SourceKind, SourceSpec, parse_sources

if TYPE_CHECKING:
    from pipelines.core.runner import RunSummary

__all__ = ["add_parsers"]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML laid over the built-in defaults (configs/default.yaml)")
    parser.add_argument("--events-out", metavar="FILE.jsonl", help="also write every logged event here (captions, status, baseline captions, enrichments), one JSON per line (a new file)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --events-out file instead of refusing it")


def add_parsers(sub) -> None:
    """Register ``replay`` and ``run`` on the CLI's subparsers."""
    replay = sub.add_parser(
        "replay", help="analyse a video file as fast as possible and print a summary",
        description="Analyse a video file as fast as possible: print a line per caption, then a summary "
        "(clips, captions, caption/clip ratio, realtime factor, step latency).",
    )
    replay.add_argument("video", metavar="VIDEO", help="a video file that FFmpeg can read")
    _add_common(replay)
    replay.add_argument("--event-log", metavar="FILE", help="also append the events to this durable SQLite log")
    replay.add_argument("--quiet", action="store_true", help="print only the summary, not each caption")
    replay.add_argument("--summary-json", metavar="FILE", help="also write the summary as JSON here")
    add_baseline_options(replay)
    add_model_options(replay)
    replay.set_defaults(handler=_cmd_replay)

    run = sub.add_parser(
        "run",
        help="analyse live sources (or files at their own pace), serve the event feed, print captions",
        description="Analyse one or more sources (the sources: of --config and every --source) and serve the "
        "events over WebSocket, with the browser console at / and Prometheus metrics at /metrics on the same port, "
        "until every source ends or Ctrl-C. Files play at real time unless --no-realtime. With --bus it is a worker "
        "that serves nothing: it analyses the config's sources it holds a lease on, shared with the site's other "
        "workers, and its own --source ones.",
    )
    run.add_argument(
        "--source",
        action="append",
        metavar="[ID=]SRC",
        help="a webcam index (0) or device (/dev/video0), rtsp:// or http(s):// URL, or a file; repeat for several. "
        "Added to the sources: of --config; one with the ID of a configured source replaces it (keeping its overrides). "
        "Needed only without a config file listing sources (put passwords there, as ${ENV_VAR}, not here: "
        "a command line is visible to every user in ps)",
    )
    _add_common(run)
    run.add_argument("--host", help="feed interface (default 127.0.0.1; anything else needs a token)")
    run.add_argument("--port", type=int, help="feed port (default 8765; 0 picks a free one)")
    run.add_argument("--token", help=f"feed auth token; prefer ${TOKEN_ENV}, which other users cannot see in the process list (at least 16 characters beyond loopback)")
    run.add_argument("--no-feed", action="store_true", help="serve nothing: no WebSocket feed, console, snapshots or /metrics")
    run.add_argument("--no-realtime", action="store_true", help="read files as fast as possible instead of at their pace")
    run.add_argument("--mqtt", metavar="URL", help="also publish to this MQTT broker (mqtt://host:1883; the mqtt: section of --config has the rest, docs/MQTT.md)")
    run.add_argument("--bus", metavar="URL", help="log the events on this NATS JetStream engine (nats://host:4222, "
                     "comma-separated for a cluster) instead of the SQLite file; see docs/SCALING.md")
    add_baseline_options(run)
    add_model_options(run)
    run.set_defaults(handler=_cmd_run)


def _analyse(
    args: argparse.Namespace,
    config: Config,
    specs: list[SourceSpec],
    *,
    log_config: EventLogConfig | None,
    serve: bool,
    print_status: bool,
    print_captions: bool,
    progress: Progress | None,
    shared: frozenset[str] = frozenset(),
) -> list[RunSummary]:
    from pipelines.vlm.baseline import start_baseline
    from pipelines.cli.options import baseline_config
    from pipelines.decoder_config import DecoderType
    from pipelines.vlm.enrichment import start_enrichment
    from pipelines.core.observers import EmbeddingPublisher, PauseObserver, ProgressObserver, StatsPublisher
    from pipelines.core.runner import run_sources
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.multicapture import MultiCapture
    from streamer.feed.events import status_event
    from streamer.feed.scenes import ScenePublisher

    with contextlib.ExitStack() as stack:
        bus, bucket, outputs = open_bus(args, specs, config, log_config, stack, serve=serve)  # what can refuse the run, before models
        seat, fenced = _publish_path(config, [s for s in specs if s.id in shared], bus, stack)
        publish = ScenePublisher(fenced)  # every event goes out through it: scenes follow the captions
        models, encode = _load_models(config, stack)
        baseline = start_baseline(baseline_config(args), publish)  # --baseline vlm: a VLM captions every clip in a worker
        if baseline:
            stack.callback(baseline.close)
        decoder = None  # vlm decoder: retrieval captions at once, a VLM's text later (enrichment events)
        if config.model.decoder.type is DecoderType.VLM:
            decoder = start_enrichment(config.model.decoder.vlm, publish)
        local = [s for s in specs if s.id not in shared]  # a worker's shared cameras come with its leases
        pipelines = {s.id: SelectivePipeline(s.id, models, config.clip, config.drift) for s in local}
        capture = MultiCapture(local, config.capture, sample_fps=config.sampling.fps, max_side=config.sampling.max_side,
                               on_status=lambda status: publish(status_event(status)),  # threads start after the feed
                               dynamic=seat is not None)
        live = bool(config.feed.bus.url)  # the engine's gateways serve what a worker publishes (docs/SCALING.md)
        console, read_snapshot = (_serve(config, bus, log_config, pipelines, capture, stack, serve=serve, bucket=bucket)
                                  if serve or live else (None, None))
        paused = _integrate(config, bus, specs, read_snapshot, stack)
        stack.callback(publish.close)  # the open scenes end when the run does, before the integrations stop
        if decoder:  # closed after the feed is up, so it ends first: the last texts still reach subscribers
            stack.callback(decoder.close)
        start_outputs(args, bus, outputs, print_captions=print_captions, print_status=print_status)
        observers = [  # everything attached to the run, in the order it is called
            baseline,
            EmbeddingPublisher(publish) if (serve or live) and config.feed.embeddings else None,
            console,
            decoder,
            ProgressObserver(progress) if progress else None,
            StatsPublisher(publish, config.feed.stats_interval_s) if (serve or live) and config.feed.stats_interval_s else None,
            PauseObserver(paused),  # MQTT's detect/set: a paused source's frames are dropped before encoding
            seat.hand_over(lambda source: SelectivePipeline(source, models, config.clip, config.drift)) if seat else None,
        ]
        with capture:  # SIGTERM and Ctrl-C interrupt it (StopSignals, installed by main)
            summaries = run_sources(capture, pipelines, encode, publish, [o for o in observers if o])
        return [dataclasses.replace(s, encoder=models.encoder_info()) for s in summaries]


def _load_models(config, stack):
    """``(models, encode)``: the run's models, announced on stderr (torch loads here, only when
    there is work to do), and their per-frame encoder split over ``model.encoder.workers``
    threads (None for a clip encoder); ``stack`` stops the threads."""
    from pipelines.cli.options import announce
    from pipelines.encode_pool import EncodePool
    from pipelines.profiles import build_models

    models = build_models(config.model)
    if INTERRUPTED.is_set():  # a Ctrl-C that a library's import turned into a fallback
        raise KeyboardInterrupt
    announce(models, config)
    return models, models.encode_frames and stack.enter_context(EncodePool(models.encode_frames, config.model.encoder.workers))


def _integrate(config, bus, specs, read_snapshot, stack):
    """Start the MQTT and webhook sinks that ``config`` turns on (:mod:`pipelines.cli.integrations`),
    each stopped by ``stack``; return the set of sources MQTT's ``detect/set`` wants paused."""
    from pipelines.cli.integrations import open_integrations

    sinks, paused = open_integrations(config, bus.log, [s.id for s in specs], read_snapshot)
    for sink in sinks:
        stack.callback(sink.stop)  # after the scenes' last ends (_analyse)
        sink.start()
        bus.add_sink(sink)
    return paused


def _publish_path(config, shared, bus, stack):
    """``(seat, publish)``: where the run publishes. Without ``shared`` cameras, ``bus.publish``
    (no seat); with them, this worker's seat in the site (:mod:`pipelines.worker`: its leases and
    its camera hand-over) and the bus behind its lease fence. ``stack`` gives the leases back."""
    if not shared:
        return None, bus.publish
    from pipelines.worker import worker_seat

    seat = stack.enter_context(worker_seat(config, shared, bus.publish))
    return seat, seat.publish


def _serve(config, bus, log_config, pipelines, capture, stack, *, serve: bool, bucket):
    """The console's parts, with the caption snapshots (also put in the engine's ``bucket`` when
    there is one, for the gateways); with ``serve``, the WebSocket feed (a sink that registers
    itself) with the browser console and ``/metrics`` on its port. Returns the console's run observer and
    the snapshot reader (None when snapshots are off)."""
    from pipelines.core.observers import ConsoleObserver
    from pipelines.run_metrics import run_metrics_route
    from streamer.console.parts import open_console
    from streamer.feed.server import FeedServer

    try:
        console = open_console(config.feed.console, config.feed.snapshots, log_config, bucket.put if bucket else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    observer = ConsoleObserver(console)
    stack.callback(observer.close)
    read_snapshot = console.snapshots.read if console.snapshots else None
    if not serve:
        return observer, read_snapshot
    routes = [*console.routes, run_metrics_route(pipelines, capture, lambda: server.stats())]  # /metrics: read at each scrape
    server = FeedServer(config.feed.server, bus, routes)
    try:
        server.start()
    except OSError as exc:
        raise UsageError(str(exc)) from None
    stack.callback(server.stop)
    print(f"jepa-stream: serving events on {server.url}", file=sys.stderr, flush=True)
    if console.frames is not None:
        print(f"jepa-stream: console on {server.url.replace('ws://', 'http://', 1)}", file=sys.stderr, flush=True)
    return observer, read_snapshot


def _print_summary(summary: RunSummary) -> None:
    print(
        f"{summary.source}: {summary.media_s:.1f} s analysed in {summary.wall_s:.1f} s "
        f"({summary.realtime_factor:.1f}x real time); {count_of(summary.clips, 'clip')}, {count_of(summary.captions, 'caption')} "
        f"(caption/clip {summary.caption_ratio:.3f}); step p50 {summary.step_p50_ms:.1f} ms, p95 {summary.step_p95_ms:.1f} ms"
        + (f"; encoder {e['network']}/{e['runtime']} on {e['provider']}" if (e := summary.encoder) else "")
        + (f"; {count_of(summary.dropped_frames, 'frame')} dropped" if summary.dropped_frames else "")
        + (f"; {count_of(summary.paused_frames, 'frame')} skipped while paused (MQTT detect OFF)" if summary.paused_frames else "")
    )


def _finish(summaries: list[RunSummary], interrupted: bool, window_s: float) -> int:
    """Print each summary and one error line per failed source; return the exit status.

    A source that ended by itself without a single clip (a still image, a video shorter than
    one clip window) failed too, unless it was paused (MQTT detect OFF) while it played. Nothing
    analysed at all is :data:`EXIT_USAGE`; a source that failed after some analysis is
    :data:`EXIT_FAILED`.
    """
    errors = []
    for summary in summaries:
        _print_summary(summary)
        if summary.error:
            errors.append(summary.error)
        elif summary.clips == 0 and not summary.interrupted and not summary.paused_frames:
            errors.append(f"{summary.source}: nothing to analyse: {count_of(summary.frames, 'frame')}, "
                          f"{summary.media_s:.2f} s of media; one clip needs {window_s:g} s (clip.window_s)")
    for error in errors:
        print(f"jepa-stream: error: {redact(error)}", file=sys.stderr)
    if errors:
        return EXIT_USAGE if all(s.clips == 0 for s in summaries) else EXIT_FAILED
    return EXIT_INTERRUPTED if interrupted else 0


def _write_summary_json(path: Path, summary: RunSummary) -> bool:
    """Write ``summary`` as JSON to ``path``; on failure print the one error line and return False."""
    try:
        path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    except OSError as exc:
        print(f"jepa-stream: error: {path}: cannot write the summary ({exc.strerror or exc})", file=sys.stderr)
        return False
    return True


def _cmd_replay(args: argparse.Namespace) -> int:
    from streamer.capture.sources import VideoFileSource

    config = apply_model_options(load_config(args.config), args)
    note_unused_sources(config, "replay", args.config)
    summary_json = Path(args.summary_json) if args.summary_json else None
    if summary_json and not summary_json.parent.is_dir():  # found now, not after the whole analysis
        raise UsageError(f"{summary_json}: cannot write the summary (no folder {summary_json.parent})")
    probe = VideoFileSource(args.video)
    probe.open_and_close()  # a missing or unreadable file is named before anything else happens
    try:
        specs = parse_sources([args.video])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    log_config = EventLogConfig(args.event_log) if args.event_log else None
    summaries = _analyse(
        args,
        config,
        specs,
        log_config=log_config,
        serve=False,
        print_status=False,
        print_captions=not args.quiet,
        progress=Progress(specs[0].id, probe.duration),
    )
    status = _finish(summaries, interrupted=any(s.interrupted for s in summaries), window_s=config.clip.window_s)
    if summary_json and not _write_summary_json(summary_json, summaries[0]):
        return status or EXIT_FAILED
    return status


def _run_sources(config: Config, given: list[str]) -> list[SourceSpec]:
    """The config file's sources with the ``--source`` ones added (or replacing one by id).
    Every password in a stream URL joins :data:`REDACT`, so no log line shows it (a short one is
    hidden only inside its URL, as every URL's password is)."""
    specs = {entry.id: entry.spec() for entry in config.sources}
    try:
        specs.update((s.id, s) for s in parse_sources(given, reserved=specs))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not specs:
        raise UsageError("no sources: give --source, or list sources: in the --config file")
    for spec in specs.values():
        password = urlsplit(str(spec.target)).password if spec.kind is SourceKind.STREAM else None
        if password:
            REDACT.add(password)
    return list(specs.values())


def _shared_sources(config: Config, given: list[str]) -> frozenset[str]:
    """With an engine, the config file's sources that no ``--source`` replaces: the workers of the
    site share them by leases. A ``--source`` is this process's own, analysed from the start."""
    if not config.feed.bus.url:
        return frozenset()
    configured = {entry.id: entry.spec() for entry in config.sources}
    return frozenset(configured) - {s.id for s in parse_sources(given, reserved=configured)}


def _cmd_run(args: argparse.Namespace) -> int:
    from streamer.capture.sources import VideoFileSource

    server: dict = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    token = args.token or os.environ.get(TOKEN_ENV)
    if token:
        server["token"] = token
    overrides = {"capture": {"realtime": not args.no_realtime}, "feed": {"server": server}}
    if args.mqtt:
        overrides["mqtt"] = {"url": args.mqtt}
    if args.bus:
        overrides["feed"]["bus"] = {"url": args.bus}
    config = apply_model_options(load_config(args.config, overrides), args)
    for secret, what in ((config.feed.server.token, "the feed token"), (config.mqtt.password, "mqtt.password"),
                         (config.webhooks.secret, "webhooks.secret"), (config.feed.bus.password, "feed.bus.password")):
        hide(secret, what)
    specs = _run_sources(config, args.source or [])
    for spec in specs:  # fail on an unreadable file before loading models
        if spec.kind is SourceKind.FILE:
            VideoFileSource(spec.target, spec.id).open_and_close()
    summaries = _analyse(
        args,
        config,
        specs,
        log_config=config.feed.log,
        serve=not args.no_feed and not config.feed.bus.url,  # a worker serves nothing: gateways do (serve --bus)
        shared=_shared_sources(config, args.source or []),
        print_status=True,
        print_captions=True,
        progress=None,
    )
    # Ctrl-C exits 130 as everywhere; SIGTERM (a service manager's stop) is how `run` is meant to end: 0.
    return _finish(summaries, interrupted=INTERRUPTED.is_set(), window_s=config.clip.window_s)
