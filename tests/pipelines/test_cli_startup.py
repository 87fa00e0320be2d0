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
# Status 130, or the end by SIGINT itself that a shell also reports as 130: a Ctrl-C that lands
# inside an extension's import can still be pending when the interpreter exits.
INTERRUPTED = (130, -signal.SIGINT)
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


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, photos):
    """120 s at 160×90: small to write, yet minutes of frames to encode, so a replay is surely
    still busy at the last moment the test interrupts it."""
    from videokit import Shot, write_video

    path = tmp_path_factory.mktemp("long") / "long.mp4"
    write_video(path, [Shot(photos["chelsea"], 60.0), Shot(photos["coffee"], 60.0)], size=(160, 90), fps=10, crf=30)
    return path


@pytest.mark.parametrize(
    ("command", "after_s", "status"),
    [
        (("replay", "--quiet"), 1.0, INTERRUPTED),  # importing torch
        (("replay", "--quiet"), 2.5, INTERRUPTED),  # loading the models
        (("replay", "--quiet"), 5.0, INTERRUPTED),  # analysing
        (("run", "--no-feed", "--source"), 5.0, INTERRUPTED),  # analysing: Ctrl-C is 130 for run too (SIGTERM is 0)
    ],
)
def test_ctrl_c_at_any_moment_ends_cleanly(command, after_s, status, tmp_path, long_video):
    # (The interpreter's own start, before any of our code runs, is the one moment not covered.)
    args = [*command, str(long_video)]
    if command[0] == "run":
        config = tmp_path / "log.yaml"
        config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
        args += ["--config", str(config)]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode in status, err
    assert "Traceback" not in err, err
    if command[0] == "replay":  # (run prints its sources' status lines on stderr too)
        assert err.strip() in ("", "jepa-stream: interrupted"), err
