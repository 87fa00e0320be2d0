"""Run ``jepa-stream run`` as a real process and find its feed, for end-to-end tests.

Exports :func:`run_cli`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from testlimits import TIMEOUT_S


@contextmanager
def run_cli(*args, env: dict | None = None, stop: bool = False) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start ``jepa-stream run ARGS`` and yield ``(process, feed URL)`` once it serves its feed.

    On exit the process is waited for (``stop``: terminated first), within the suite's timeout.
    Its stderr is a pipe the test may read on; stdout is discarded.
    """
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + TIMEOUT_S
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            match = re.search(r"serving events on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, f"jepa-stream run did not serve its feed (exit status {proc.poll()})"
        yield proc, url
    finally:
        if stop:
            proc.terminate()
        proc.wait(TIMEOUT_S)
