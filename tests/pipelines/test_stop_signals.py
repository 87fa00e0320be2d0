"""A second signal does not cut a stop short; three Ctrl-C, a late signal, or a main thread stuck
in C code end the process at once (streamer.capture.signals.StopSignals, installed by the CLI)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testlimits import TIMEOUT_S

ROOT = Path(__file__).resolve().parents[2]

# A process whose stop takes 1 s of cleanup (in Python: signals can be handled) before its summary.
SLOW_STOP = """
import sys, time
from streamer.capture.signals import StopSignals
with StopSignals():
    try:
        print("ready", flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        end = time.monotonic() + {cleanup_s}
        while time.monotonic() < end:
            time.sleep(0.05)
        print("summary", flush=True)
"""
# A main thread stuck in a C call that waits on a condition no signal ends (as a library waiting
# on its own threads does): the GIL is free, but no Python handler runs until the call returns.
STUCK = """
import ctypes
from streamer.capture.signals import StopSignals
libc = ctypes.CDLL(None)
mutex, cond = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)  # zeroed: the static initialisers
with StopSignals():
    libc.pthread_mutex_lock(mutex)
    print("ready", flush=True)
    libc.pthread_cond_wait(cond, mutex)
"""


@pytest.fixture
def start():
    """Start a script (it prints "ready" when set); every process is killed at the end, however the test ends."""
    started = []

    def _start(script: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT)
        started.append(proc)
        assert proc.stdout.readline() == "ready\n"
        return proc

    yield _start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT_S)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_during_the_stop_is_ignored_and_the_summary_comes(start, signum):
    proc = start(SLOW_STOP.format(cleanup_s=1.0))
    proc.send_signal(signum)
    time.sleep(0.3)  # GNU timeout's spacing: the repro, not a wait for a condition
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert out == "summary\n" and proc.returncode == 0
    assert err == (f"jepa-stream: stopping: signal {int(signum)} ignored until the stop is done "
                   "(Ctrl-C 3 times forces it)\n")


def test_three_ctrl_c_force_the_exit(start):
    proc = start(SLOW_STOP.format(cleanup_s=10 * TIMEOUT_S))
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert out == "" and proc.returncode == 128 + signal.SIGINT
    assert err.splitlines()[-1] == "jepa-stream: forced exit (Ctrl-C 3 times)"


def _waiting_on_a_futex(pid: int) -> bool:
    """Whether the main thread of ``pid`` sleeps in the kernel on a futex (here: in pthread_cond_wait)."""
    return "futex" in Path(f"/proc/{pid}/wchan").read_text()


def test_a_signal_while_the_main_thread_is_stuck_in_c_code_still_stops_the_process(start):
    proc = start(STUCK)
    deadline = time.monotonic() + TIMEOUT_S
    while not _waiting_on_a_futex(proc.pid):  # past the last point where Python could still take the signal
        assert time.monotonic() < deadline, "the script never blocked"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err == "jepa-stream: forced exit (the main thread did not stop within 2 s)\n"


def test_two_sigterms_to_run_keep_its_summary(tmp_path, photos):
    from videokit import Shot, write_video

    video = tmp_path / "v.mp4"
    write_video(video, [Shot(photos["chelsea"], 30.0), Shot(photos["coffee"], 30.0)], size=(160, 90), fps=10, crf=30)
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--no-feed", "--config", str(config),
                             "--source", str(video)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = proc.stdout.readline()  # the first caption: the run is analysing
        assert first, proc.communicate(timeout=TIMEOUT_S)[1]
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT_S)
    assert proc.returncode == 0, err
    assert " s analysed in " in out.splitlines()[-1]  # the summary, printed after the stop
    assert "Traceback" not in err


# A group of writes under stop_deferred: the stop signal arrives in the middle of it.
DEFERRED = """
import os, signal, time
from streamer.capture.signals import StopSignals, stop_deferred
with StopSignals():
    try:
        print("ready", flush=True)
        with stop_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(20):
                time.sleep(0.01)  # the handler runs here, at once, and holds the stop
            print("the whole group", flush=True)
        print("after the group", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
"""


def test_a_stop_inside_a_deferred_group_of_writes_comes_when_the_group_ends(start):
    proc = start(DEFERRED)
    out, _ = proc.communicate(timeout=TIMEOUT_S)
    assert out.splitlines() == ["the whole group", "stopped"]
