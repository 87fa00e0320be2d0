"""The command line starts light and stops cleanly: no heavy import to print help or read a
config, and Ctrl-C at any moment ends with one line, never a traceback."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testlimits import TIMEOUT_S

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "av", "cv2", "transformers", "onnxruntime", "websockets")


def test_help_and_config_loading_import_no_model_decoder_or_socket_library():
    probe = (
        "import sys; from pipelines.cli import build_parser; build_parser(); "
        "from pipelines.config import load_config; load_config(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("after_s", [1.0, 2.5, 5.0])
def test_ctrl_c_at_any_moment_ends_with_one_line_and_status_130(after_s):
    # About 1 s: importing torch; 2.5 s: loading the models; 5 s: analysing the demo. (The
    # interpreter's own start, before any of our code runs, is the one moment not covered.)
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "replay", str(ROOT / "demo" / "demo.mp4"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
