"""Real ``nats-server`` processes with JetStream for tests: one server, or a three-node cluster.

Exports :func:`nats_binary`, :class:`NatsServer`, :class:`NatsCluster` and the pytest fixtures
:func:`nats_server` and :func:`nats_cluster` (import them into a test module or a conftest).

Every server listens on 127.0.0.1 only, on ports picked free at start, with its JetStream store
(``-sd``) in its own folder under the test's temporary directory. A server is ready when its
monitoring endpoint's ``/healthz`` answers 200 (JetStream included); a cluster is ready when every
node is. :meth:`NatsServer.stop` ends the process (SIGTERM, then SIGKILL), :meth:`NatsServer.kill`
kills it at once, and :meth:`NatsServer.start` again brings it back on the same ports and store,
which is how a test restarts "the engine". The fixtures stop every process even when the test fails.
The binary is ``$NATS_SERVER`` or ``nats-server`` on the PATH (``/usr/sbin`` is searched too);
without one the fixtures skip the test, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from netkit import free_port
from testlimits import TIMEOUT_S

__all__ = ["nats_binary", "NatsServer", "NatsCluster", "nats_server", "nats_cluster"]


def nats_binary() -> str | None:
    """The ``nats-server`` to run, or None when there is none."""
    return os.environ.get("NATS_SERVER") or shutil.which("nats-server") or shutil.which(
        "nats-server", path="/usr/sbin:/usr/local/sbin")


class NatsServer:
    """One ``nats-server -js`` on loopback; ``routes`` (cluster URLs of the peers) make it a cluster node.

    folder: Where its store (``folder/store``) and log (``folder/server.log``) go.
    name: The server name (JetStream clusters need one per node).
    cluster: Whether to open a cluster port (``cluster_port``) for routes.
    """

    def __init__(self, folder: Path, name: str = "n1", *, cluster: bool = False, cluster_name: str = "jepa") -> None:
        self.folder, self.name, self.cluster_name = Path(folder), name, cluster_name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port, self.monitor_port = free_port(), free_port()
        self.cluster_port = free_port() if cluster else None
        self.routes: list[str] = []
        self.config_text: str | None = None  # set: run ``-c`` with this file (its ports must be .port/.cluster_port)
        self.extra_args: list[str] = []  # more options, e.g. ["--user", "u", "--pass", "p"]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def cluster_url(self) -> str:
        """The route URL other nodes dial."""
        return f"nats://127.0.0.1:{self.cluster_port}"

    def command(self) -> list[str]:
        """The command line this server runs."""
        binary = nats_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed (apt-get install nats-server)")
        if self.config_text is not None:
            (self.folder / "nats.conf").write_text(self.config_text)
            return [binary, "-c", str(self.folder / "nats.conf"), "-m", str(self.monitor_port),
                    "-l", str(self.folder / "server.log")]
        cmd = [binary, "-js", "-sd", str(self.folder / "store"), "-a", "127.0.0.1", "-p", str(self.port),
               "-m", str(self.monitor_port), "-n", self.name, "-l", str(self.folder / "server.log")]
        if self.cluster_port is not None:
            cmd += ["--cluster_name", self.cluster_name, "--cluster", self.cluster_url]
            if self.routes:
                cmd += ["--routes", ",".join(self.routes)]
        return cmd + self.extra_args

    def start(self, wait: bool = True) -> "NatsServer":
        """Start the process (again, after stop or kill: same ports and store); wait until healthy."""
        if self.running:
            raise RuntimeError(f"nats-server {self.name} is already running")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        if wait:
            self.wait_healthy()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        """Whether ``/healthz`` answers 200 now (JetStream enabled and current)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1) as reply:
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = TIMEOUT_S) -> None:
        """Wait until healthy; raise naming the server and its log's tail when it is not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"nats-server {self.name} exited ({self.process.returncode}): {self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server {self.name} not healthy within {timeout:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        path = self.folder / "server.log"
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def kill(self) -> None:
        """SIGKILL the server and reap it (no-op when not running)."""
        if self.running:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; reap it (idempotent)."""
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        elif self.process is not None:
            self.process.wait(TIMEOUT_S)


class NatsCluster:
    """``size`` JetStream nodes on loopback routed to each other (cluster name ``jepa``)."""

    def __init__(self, folder: Path, size: int = 3) -> None:
        self.nodes = [NatsServer(Path(folder) / f"n{i + 1}", f"n{i + 1}", cluster=True) for i in range(size)]
        for node in self.nodes:
            node.routes = [peer.cluster_url for peer in self.nodes if peer is not node]

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All client URLs, comma-separated (what ``--bus`` takes for a cluster)."""
        return ",".join(self.urls)

    def start(self) -> "NatsCluster":
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_healthy()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _running(make):
    """Yield ``make()`` started; stop it afterwards, even when the test fails. Skip without nats-server."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    servers = make()
    try:
        yield servers.start()
    finally:
        servers.stop()


@pytest.fixture
def nats_server(tmp_path: Path):
    """A running single JetStream server in the test's temporary folder; stopped after the test."""
    yield from _running(lambda: NatsServer(tmp_path / "nats"))


@pytest.fixture
def nats_cluster(tmp_path: Path):
    """A running three-node JetStream cluster in the test's temporary folder; stopped after the test."""
    yield from _running(lambda: NatsCluster(tmp_path / "cluster"))
