"""``jepa-stream bench`` on the command line: its options, their checks, and the summary it prints.

Exports :func:`add_parser` and :func:`read_truth`; the bench itself is :mod:`pipelines.bench`.

Every mistake a user can make is found before any model loads and reported as one
:class:`~pipelines.errors.UsageError` (or, for ground truth, :class:`~pipelines.errors.DataError`) line (exit status 2): a video FFmpeg cannot open, ground
truth that is missing, unreadable or not ``{"boundaries": [seconds, …]}``, a ``--gt`` count that
does not match the videos, rates that are not positive numbers, ``--baseline-clips`` below 1, an
output folder that cannot be written. Uniform 1 Hz is always among the rates (the decode
reduction is measured against it). Without ``--gt``, ``VIDEO`` stem + ``.gt.json`` beside each
video is its ground truth when it exists.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.bench.options import BenchOptions
from pipelines.bench.report import summary_lines
from pipelines.bench.run import run_bench
from pipelines.cli.common import note_unused_sources
from pipelines.cli.options import add_baseline_options, add_model_options, apply_model_options, baseline_config
from pipelines.errors import DataError, UsageError

__all__ = ["add_parser", "read_truth"]


def read_truth(path: Path) -> dict:
    """``{"boundaries": [s, …] (sorted), "duration": s or None}`` from a ground-truth file."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DataError(f"{path}: cannot read ground truth ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno})") from None
    b = data.get("boundaries") if isinstance(data, dict) else None
    if not isinstance(b, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b):
        raise DataError(f'{path}: expected {{"boundaries": [seconds, …], "duration": seconds}}')
    return {"boundaries": sorted(float(x) for x in b), "duration": data.get("duration")}


def add_parser(sub) -> None:
    """Register ``jepa-stream bench`` on the CLI's subparsers."""
    bench = sub.add_parser(
        "bench",
        help="measure selective decoding against uniform decoding, the offline Ward reference, shot detectors and a VLM baseline",
        description="Decode each video once and run every strategy on the same frames; write DIR/report.json, "
        "DIR/report.md and DIR/timeline.png.",
    )
    bench.add_argument("videos", nargs="+", metavar="VIDEO", help="video files that FFmpeg can read")
    bench.add_argument("--gt", nargs="+", metavar="FILE.json", help='ground truth per video, in order: {"boundaries": [s, …], "duration": s} (default: VIDEO stem + .gt.json beside each video, when present)')
    bench.add_argument("--out", default="bench-out", metavar="DIR", help="where the report goes (default: bench-out)")
    bench.add_argument("--config", metavar="FILE", help="YAML laid over the built-in defaults (configs/default.yaml)")
    bench.add_argument("--uniform-rates", default="1,0.5", metavar="HZ,…", help="uniform reference rates in Hz (default: 1,0.5)")
    bench.add_argument("--no-peers", action="store_true", help="skip the shot-boundary detectors (PySceneDetect, TransNetV2)")
    bench.add_argument("--baseline-clips", type=int, default=6, metavar="N", help="clips per video the baseline VLM captions and times (default 6)")
    add_baseline_options(bench, "also time SmolVLM on --baseline-clips clips per video and extrapolate to every clip")
    add_model_options(bench, decoder_help="vlm: also measure the VLM decoder's cost, on every selective decision against "
                                          "on every clip (report.json decoder_cost)")
    bench.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from pipelines.config import load_config
    from streamer.capture.sources import VideoFileSource

    config = apply_model_options(load_config(args.config), args)
    note_unused_sources(config, "bench", args.config)
    try:
        rates = tuple(float(x) for x in args.uniform_rates.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--uniform-rates: expected numbers like 1,0.5, got {args.uniform_rates!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise UsageError(f"--uniform-rates: rates must be positive, got {args.uniform_rates!r}")
    if 1.0 not in rates:
        rates = (1.0, *rates)  # decode_reduction is against uniform 1 Hz
    if args.baseline_clips < 1:
        raise UsageError(f"--baseline-clips: must be at least 1, got {args.baseline_clips}")
    if args.gt and len(args.gt) != len(args.videos):
        raise UsageError(f"--gt: {len(args.gt)} ground-truth files for {len(args.videos)} videos (give one per video, in order)")
    for v in args.videos:  # fail on a missing or unreadable video before loading any model
        probe = VideoFileSource(v)
        probe.open()
        probe.close()
    truths = []
    for i, v in enumerate(args.videos):
        if args.gt:
            truths.append(read_truth(Path(args.gt[i])))
        else:
            beside = Path(v).with_name(Path(v).stem + ".gt.json")
            truths.append(read_truth(beside) if beside.is_file() else None)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / ".write-test"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    options = BenchOptions(uniform_rates_hz=rates, baseline_clips=args.baseline_clips, peers=not args.no_peers)
    baseline = baseline_config(args)
    report = run_bench(args.videos, truths, out, config, options, baseline)
    for line in summary_lines(report):
        print(line)
    print(f"report: {out / 'report.json'}, {out / 'report.md'}, {out / 'timeline.png'}")
    return 0
