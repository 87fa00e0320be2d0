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


@pytest.mark.parametrize(
    ("command", "after_s", "status"),
    [
        (("replay", "--quiet"), 1.0, 130),  # importing torch
        (("replay", "--quiet"), 2.5, 130),  # loading the models, or analysing
        (("run", "--no-feed", "--source"), 6.0, 0),  # a file played at its pace: surely analysing; Ctrl-C is how run ends
    ],
)
def test_ctrl_c_at_any_moment_ends_cleanly(command, after_s, status, tmp_path):
    # (The interpreter's own start, before any of our code runs, is the one moment not covered.)
    args = [*command, str(ROOT / "demo" / "demo.mp4")]
    if command[0] == "run":
        config = tmp_path / "log.yaml"
        config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
        args += ["--config", str(config)]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == status, err
    assert "Traceback" not in err, err
    if status == 130:
        assert err.strip().splitlines() == ["jepa-stream: interrupted"] or err.strip() == "", err
