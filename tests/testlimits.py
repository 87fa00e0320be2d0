"""Every timeout in the test suite scales from one constant (seconds); raise it on slow machines.

Exports :data:`TIMEOUT_S` and :func:`wait_for`.
"""

import os
import time

TIMEOUT_S = float(os.environ.get("JEPA_STREAM_TEST_TIMEOUT", "60"))


def wait_for(predicate, what: str, timeout: float = TIMEOUT_S):
    """``predicate()``'s first truthy value, polled every 50 ms; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
