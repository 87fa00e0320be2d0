"""A real mosquitto broker on a free loopback port, and a paho subscriber that records, for tests.

Exports :class:`Broker`, the ``broker`` fixture and :class:`Recorder` (and passes on
:func:`netkit.free_port` and :func:`testlimits.wait_for`).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from netkit import free_port
from testlimits import TIMEOUT_S, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """``mosquitto -c CONF`` on 127.0.0.1:``port`` with persistence in ``folder`` (kept across restarts);
    ``extra``: more lines for the listener (TLS files, a password file)."""

    def __init__(self, folder: Path, port: int | None = None, extra: str = "") -> None:
        if not Path(MOSQUITTO).exists():
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.folder, self.port = folder, port or free_port()
        self.conf = folder / "mosquitto.conf"
        anonymous = "false" if "password_file" in extra else "true"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence true\n"
                             f"user {getpass.getuser()}\npersistence_location {folder}/\n"
                             f"log_dest file {folder}/mosquitto.log\n{extra}")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepts() -> bool:
            assert self.proc.poll() is None, f"mosquitto exited with {self.proc.returncode}: {self.folder}/mosquitto.log"
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(accepts, f"mosquitto on port {self.port}")
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM: it saves its persistent sessions), then make sure it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    """A started :class:`Broker` in ``tmp_path/broker``, stopped after the test however it ends."""
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder).start()
    yield broker
    broker.stop()


class Recorder:
    """A paho subscriber (QoS 1) that keeps every message as ``(topic, payload bytes, retain)``.

    ``client_id`` with ``persistent``: a persistent session, so messages published while it was
    cut off (broker restarted) still reach it.
    """

    def __init__(self, port: int, topics: list[str], client_id: str = "", persistent: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics]) if topics else self.connected.set()
        self.client.on_subscribe = lambda *a: self.connected.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for(self.connected.is_set, "the test subscriber's subscription")

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def on(self, topic: str) -> list[bytes]:
        """The payloads received on ``topic``, in order."""
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
