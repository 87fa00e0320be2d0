"""Every timeout in the test suite scales from one constant (seconds); raise it on slow machines."""

import os

TIMEOUT_S = float(os.environ.get("JEPA_STREAM_TEST_TIMEOUT", "60"))
