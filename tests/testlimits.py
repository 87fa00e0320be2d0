"""Every timeout in the test suite scales from one constant (seconds); raise it on slow machines.

Exports :data:`TIMEOUT_S` and :func:`wait_for`.
"""

import os
import time

TIMEOUT_S = float(os.environ.get("JEPA_STREAM_TEST_TIMEOUT", "60"))


def wait_for(condition, what: str, timeout_s: float = TIMEOUT_S):
    """Poll ``condition()`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
