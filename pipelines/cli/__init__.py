"""The ``jepa-stream`` command line.

Exports :func:`main` and :func:`build_parser`.

Every parser lives in this package, one module per command family with its handler:
:mod:`~pipelines.cli.analyse` (``replay``, ``run``), :mod:`~pipelines.cli.subscribe`, :mod:`~pipelines.cli.serve`,
:mod:`~pipelines.cli.models` (``train-predictor``, ``export-onnx``) and :mod:`~pipelines.cli.bench`;
the options several commands share are in :mod:`~pipelines.cli.options`. Building the
parser imports none of torch, PyAV, OpenCV or websockets: a handler imports what its work needs
when it runs, so ``--help`` and ``subscribe`` start at once.

Every failure a user can cause (a missing or damaged video, a bad config key, an unwritable
output, a port in use) ends with one line ``jepa-stream: error: …`` on stderr and a non-zero
exit status; events produced before the failure stay in the ``--events-out`` file and the log.
Ctrl-C at any moment ends with one line, ``jepa-stream: interrupted``, and status 130 (SIGTERM
stops the same way). A second signal within 2 s does not cut the stop short; three Ctrl-C, a
signal after those 2 s, or a main thread stuck in a library for 2 s after the signal end the
process at once (:class:`streamer.capture.signals.StopSignals`).
"""

from __future__ import annotations

import sys

from pipelines.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, INTERRUPTED, REDACT, note_stop
from streamer.capture.signals import StopSignals

__all__ = ["main", "build_parser"]


def build_parser():
    """The argument parser of every command."""
    import argparse

    from pipelines.cli import analyse, bench, models, serve, subscribe

    parser = argparse.ArgumentParser(
        prog="jepa-stream",
        description="Real-time video stream analyzer: semantic embeddings first, text only when the meaning changes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyse.add_parsers(sub)
    subscribe.add_parser(sub)
    serve.add_parser(sub)
    models.add_parsers(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    with StopSignals(on_first=note_stop):  # after a signal, both stay ignored: the process is only exiting
        try:
            return _main(argv)
        except KeyboardInterrupt:  # also while modules are still loading
            print("jepa-stream: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    import logging
    import os

    from configs.errors import UserError
    from streamer.feed.protocol import TOKEN_ENV
    from streamer.secrets import redact

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(REDACT)
        handler.addFilter(lambda record: not INTERRUPTED.is_set())  # after a Ctrl-C, "interrupted" is all there is to say
    for token in (getattr(args, "token", None), os.environ.get(TOKEN_ENV)):
        if token:
            REDACT.add(token)  # `run` warns about one too short to hide
    if getattr(args, "token", None):
        print(f"jepa-stream: warning: --token is visible to other users in the process list; "
              f"pass it in ${TOKEN_ENV} instead", file=sys.stderr)
    try:
        return args.handler(args)
    except UserError as exc:  # a config key, a file, a port, data: named in one line
        print(f"jepa-stream: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
