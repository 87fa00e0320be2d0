"""The ``jepa-stream`` command line.

Exports :func:`main`.

Every failure a user can cause (a missing or damaged video, a bad config key, an unwritable
output) ends with one line ``jepa-stream: error: …`` on stderr and a non-zero exit status;
events produced before the failure stay in the ``--events-out`` file.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.config import Config, ConfigError, load_config
from pipelines.progress import Progress
from pipelines.runner import EventPublisher, RunSummary, run_source
from streamer.sinks import JsonlSink, format_caption
from streamer.sources import SourceError, VideoFileSource

__all__ = ["main"]

EXIT_FAILED = 1  # the analysis started but the source failed (events so far are kept)
EXIT_USAGE = 2  # bad arguments, config or input: nothing was analysed


class UsageError(Exception):
    """Something the user asked for cannot be done; the message is one line."""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML laid over the built-in defaults (configs/default.yaml)")
    parser.add_argument("--events-out", metavar="FILE.jsonl", help="write every event as one JSON line here")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jepa-stream",
        description="Real-time video stream analyzer: semantic embeddings first, text only when the meaning changes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = sub.add_parser("replay", help="analyse a video file as fast as possible and print a summary")
    replay.add_argument("video", metavar="VIDEO", help="a video file that FFmpeg can read")
    _add_common(replay)
    replay.add_argument("--quiet", action="store_true", help="print only the summary, not each caption")
    replay.add_argument("--summary-json", metavar="FILE", help="also write the summary as JSON here")
    replay.set_defaults(handler=_cmd_replay)

    run = sub.add_parser("run", help="analyse a source as it plays and print captions as they come")
    run.add_argument("--source", required=True, metavar="SRC", help="a video file (paced at real time)")
    _add_common(run)
    run.set_defaults(handler=_cmd_run)
    return parser


def _outputs(args: argparse.Namespace, print_captions: bool) -> tuple[list[Callable[[dict], None]], JsonlSink | None]:
    outputs: list[Callable[[dict], None]] = []
    sink = None
    if args.events_out:
        try:
            sink = JsonlSink(args.events_out)
        except OSError as exc:
            raise UsageError(str(exc)) from None
        outputs.append(sink.write)
    if print_captions:
        outputs.append(lambda event: print(format_caption(event), flush=True))
    return outputs, sink


def _analyse_file(args: argparse.Namespace, path: str, *, realtime: bool, print_captions: bool) -> RunSummary:
    config: Config = load_config(args.config)
    source = VideoFileSource(path, source_id=Path(path).stem or "file", sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()  # fail on a missing or unreadable file before loading models
    from pipelines.profiles import build_models  # torch loads only when there is work to do
    from pipelines.selective import SelectivePipeline

    models = build_models(config.model)
    pipeline = SelectivePipeline(source.source_id, models, config.clip, config.drift)
    outputs, sink = _outputs(args, print_captions)
    try:
        progress = Progress(source.source_id, source.duration) if not realtime else None
        return run_source(source, pipeline, EventPublisher(outputs).publish, realtime=realtime, progress=progress)
    finally:
        if sink:
            sink.close()


def _print_summary(summary: RunSummary) -> None:
    print(
        f"{summary.source}: {summary.media_s:.1f} s analysed in {summary.wall_s:.1f} s "
        f"({summary.realtime_factor:.1f}x real time); {summary.clips} clips, {summary.captions} captions "
        f"(caption/clip {summary.caption_ratio:.3f}); step p50 {summary.step_p50_ms:.1f} ms, p95 {summary.step_p95_ms:.1f} ms"
    )


def _cmd_replay(args: argparse.Namespace) -> int:
    summary = _analyse_file(args, args.video, realtime=False, print_captions=not args.quiet)
    _print_summary(summary)
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.error:
        print(f"jepa-stream: error: {summary.error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    summary = _analyse_file(args, args.source, realtime=True, print_captions=True)
    _print_summary(summary)
    if summary.error:
        print(f"jepa-stream: error: {summary.error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: threads joined, outputs closed


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return args.handler(args)
    except (ConfigError, SourceError, UsageError) as exc:
        print(f"jepa-stream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jepa-stream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
