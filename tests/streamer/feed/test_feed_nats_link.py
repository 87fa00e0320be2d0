"""The engine connection: starts while the engine is down, connects when it comes, survives a restart."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading

import pytest

from natskit import NatsServer, nats_binary
from streamer.feed.bus_config import BusConfig
from streamer.feed.nats_link import EngineUnavailable, NatsLink
from testlimits import TIMEOUT_S, wait_for


@pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")
def test_link_connects_late_and_reconnects_after_a_restart(tmp_path, caplog):
    server = NatsServer(tmp_path / "nats")  # ports chosen, not started: the engine is down
    states: list[bool] = []
    link = NatsLink(BusConfig(url=server.url, reconnect_wait_s=0.1), "test", on_state=lambda up, _: states.append(up))
    caplog.set_level(logging.WARNING, logger="streamer.feed.nats_link")
    try:
        link.start()
        assert not link.wait_connected(0.5), "nothing listens yet"
        with pytest.raises(EngineUnavailable, match="no answer within"):
            link.call(asyncio.sleep(5), timeout=0.3)
        server.start()
        assert link.wait_connected(TIMEOUT_S)
        server.kill()
        wait_for(lambda: not link.connected, "the link to see the engine go")
        server.start()
        wait_for(lambda: link.connected, "the link to reconnect")
        assert states == [True, False, True]
        refused = [r.getMessage() for r in caplog.records if "connect call failed" in r.getMessage().lower()]
        assert 1 <= len(refused) <= 2, f"a repeated connect error is logged once per outage, got {refused}"
    finally:
        link.close()
        server.stop()
    assert not any(t.name == "nats-link" and t.is_alive() for t in threading.enumerate())


def link_lines(caplog) -> list[str]:
    """What the link logged (other loggers, e.g. asyncio's, are not its business)."""
    return [r.getMessage() for r in caplog.records if r.name == "streamer.feed.nats_link"]


def test_bad_bus_settings_name_the_key():
    with pytest.raises(ValueError, match=r"^url: must be nats://HOST:PORT or tls://HOST:PORT, .* \(got 'http://example'\)$"):
        BusConfig(url="http://example")
    with pytest.raises(ValueError, match=r"^url: must be .* \(got 'nats://jepa:\*\*\*@a:1,http://b'\)$"):
        BusConfig(url="nats://jepa:s3cret-pass@a:1,http://b")  # a bad URL never shows its password
    with pytest.raises(ValueError, match=r"^stream_replicas: must be an integer within 1..5 \(got 7\)$"):
        BusConfig(url="nats://127.0.0.1:4222", stream_replicas=7)
    with pytest.raises(ValueError, match=r"^outbox_max: must be an integer within 1..1000000 \(got 0\)$"):
        BusConfig(outbox_max=0)
    with pytest.raises(ValueError, match=r"^ack_timeout_s: must be a number within \(0, 3600\] \(got inf\)$"):
        BusConfig(ack_timeout_s=float("inf"))
    assert BusConfig(url="nats://a:1, nats://b:2").servers == ["nats://a:1", "nats://b:2"]
    assert BusConfig(site="s1").subject("cam.1", "caption") == "jepa.s1.cam%2E1.caption"


@pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")
def test_credentials_come_from_the_environment_and_a_wrong_password_is_one_clear_line(tmp_path, monkeypatch, caplog):
    from pipelines.config import load_config

    server = NatsServer(tmp_path / "nats")
    server.extra_args = ["--user", "jepa", "--pass", "s3cret-pass"]
    site = tmp_path / "site.yaml"
    site.write_text(f"feed:\n  bus:\n    url: {server.url}\n    user: jepa\n    password: ${{NATS_PASSWORD}}\n")
    server.start()
    try:
        monkeypatch.setenv("NATS_PASSWORD", "s3cret-pass")
        good = NatsLink(load_config(site).feed.bus, "test").start()
        try:
            assert good.wait_connected(TIMEOUT_S)
        finally:
            good.close()
        monkeypatch.setenv("NATS_PASSWORD", "wrong")
        caplog.set_level(logging.WARNING, logger="streamer.feed.nats_link")
        bad = NatsLink(load_config(site).feed.bus, "test").start()
        try:
            wait_for(lambda: link_lines(caplog), "the refusal to be logged")
            assert not bad.connected
            line = link_lines(caplog)[0]
            assert line.startswith(f"event engine {server.url}: ") and "authorization" in line.lower()
            assert "\n" not in line and "wrong" not in line
        finally:
            bad.close()
    finally:
        server.stop()


def test_feed_bus_may_be_just_the_url(tmp_path):
    from configs.loader import ConfigError
    from pipelines.config import load_config

    site = tmp_path / "site.yaml"
    site.write_text("feed:\n  bus: nats://10.0.0.5:4222\n")
    bus = load_config(site).feed.bus
    assert (bus.url, bus.site, bus.stream_replicas) == ("nats://10.0.0.5:4222", "site", 1)
    site.write_text("feed:\n  bus:\n    url: nats://10.0.0.5:4222\n    replicas: 3\n")
    with pytest.raises(ConfigError, match=r"feed\.bus\.replicas"):
        load_config(site)


def make_certificates(folder) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1 it signed (openssl CLI)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=TIMEOUT_S)

    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=jepa-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "san.cnf")
    return {name: str(folder / name) for name in ("ca.pem", "server.pem", "server.key")}


@pytest.mark.skipif(nats_binary() is None or shutil.which("openssl") is None, reason="needs nats-server and openssl")
def test_tls_with_the_configured_ca_connects_and_without_it_is_refused_in_one_line(tmp_path, caplog):
    files = make_certificates(tmp_path)
    server = NatsServer(tmp_path / "nats")
    server.extra_args = ["--tls", "--tlscert", files["server.pem"], "--tlskey", files["server.key"]]
    url = server.url.replace("nats://", "tls://")
    server.start()
    try:
        good = NatsLink(BusConfig(url=url, tls_ca=files["ca.pem"]), "test").start()
        try:
            assert good.wait_connected(TIMEOUT_S)
        finally:
            good.close()
        caplog.set_level(logging.WARNING, logger="streamer.feed.nats_link")
        untrusting = NatsLink(BusConfig(url=url), "test").start()  # the system's CAs do not know this one
        try:
            wait_for(lambda: link_lines(caplog), "the refusal to be logged")
            assert not untrusting.connected
            line = link_lines(caplog)[0]
            assert line.startswith(f"event engine {url}: ") and "certificate" in line.lower() and "\n" not in line
        finally:
            untrusting.close()
    finally:
        server.stop()
    with pytest.raises(ValueError, match=r"^feed\.bus\.tls_ca: cannot load the TLS files"):
        NatsLink(BusConfig(url=url, tls_ca=str(tmp_path / "missing.pem")), "test")
