"""Test helpers for live capture: a real RTSP server in its own process, and timing constants.

Exports :data:`FAST`, :func:`rtsp_unavailable`, :class:`RtspServer` and :func:`open_fds` (the
suite's :data:`~testlimits.TIMEOUT_S` and :func:`~testlimits.wait_for` are in ``tests/testlimits.py``,
:func:`~netkit.free_port` in ``tests/netkit.py``).

The server is ``rtsp_server.py`` run by the system Python with Debian's ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0`` (set ``JEPA_STREAM_GI_PYTHON`` to use another interpreter).
"""

from __future__ import annotations

import functools
import os
import selectors
import signal
import subprocess
from pathlib import Path

from netkit import free_port
from streamer.capture.capture_config import CaptureConfig
from testlimits import TIMEOUT_S

GI_PYTHON = os.environ.get("JEPA_STREAM_GI_PYTHON", "/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")

# Short settings so outages and retries take fractions of a second.
FAST = CaptureConfig(
    buffer_size=4,
    open_timeout_s=5.0,
    probe_s=0.5,
    read_timeout_s=2.0,
    stall_timeout_s=2.0,
    backoff_initial_s=0.1,
    backoff_max_s=0.4,
    backoff_jitter=0.2,
    backoff_reset_s=0.5,
)

_PROBE = """
import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("filesrc", "qtdemux", "h264parse", "rtph264pay") if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
"""


@functools.cache
def rtsp_unavailable() -> str | None:
    """Why the RTSP server cannot run here, or ``None`` when it can."""
    if not Path(GI_PYTHON).exists():
        return f"{GI_PYTHON} not found (the RTSP test server needs the system Python with python3-gi)"
    try:
        done = subprocess.run([GI_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "probing GStreamer timed out"
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server not usable from {GI_PYTHON}: {last} (apt install gir1.2-gst-rtsp-server-1.0 python3-gi)"
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()} (apt install gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)"
    return None


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class RtspServer:
    """An RTSP server process serving ``video`` at ``rtsp://127.0.0.1:<port><mount>``.

    :meth:`start` waits until it listens; :meth:`stop` ends it (SIGTERM, or SIGKILL with
    ``hard``); :meth:`pause` / :meth:`resume` freeze it with SIGSTOP / SIGCONT, which leaves
    connections open but silent (a stalled camera). The port stays the same across restarts.
    With ``credentials=(user, password)`` it demands Basic auth; :attr:`url` carries none.
    """

    def __init__(self, video: Path, log_dir: Path, mount: str = "/cam", port: int | None = None,
                 credentials: tuple[str, str] | None = None):
        self.video, self.mount, self.credentials = video, mount, credentials
        self.port = port or free_port()
        self.log_path = log_dir / f"rtsp-{self.port}.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RtspServer:
        assert not self.running, "already running"
        args = [
            GI_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--mount",
            self.mount,
            "--file",
            str(self.video),
        ]
        env = {**os.environ, "PYTHONPATH": ""}
        if self.credentials:  # Basic auth; the password through the environment, as the analyzer gets it
            args += ["--user", self.credentials[0]]
            env["RTSP_PASSWORD"] = self.credentials[1]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            if not sel.select(TIMEOUT_S / 4) or not self._proc.stdout.readline().startswith(b"READY"):
                self.stop(hard=True)
                raise RuntimeError(f"RTSP server did not start on port {self.port}: see {self.log_path}")
        return self

    def stop(self, hard: bool = False) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self._proc.wait(TIMEOUT_S / 6)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc.stdout.close()
        self._proc = None

    def pause(self) -> None:
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._proc.send_signal(signal.SIGCONT)
