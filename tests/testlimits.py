"""Every timeout in the test suite scales from one constant (seconds); raise it on slow machines.

Exports :data:`TIMEOUT_S` and :func:`wait_for`.
"""

import os
import time

TIMEOUT_S = float(os.environ.get("JEPA_STREAM_TEST_TIMEOUT", "60"))


def wait_for(condition, what: str, timeout_s: float = TIMEOUT_S, step_s: float = 0.05):
    """Poll ``condition()`` every ``step_s`` until it returns something true (returned); past
    ``timeout_s``, AssertionError ``timed out after … s waiting for {what}``. The suite's one polling
    wait: the kits pass their own timeouts (the cluster's :func:`workerkit.wait_for` waits longer)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
