"""Secrets taken from the environment never show: a marker in every place a camera URL can hold
one, grepped for in every output of a real `jepa-stream -v run` (stderr with -v logs, stdout, the
durable log, --events-out, /metrics, the console page) and in error messages."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

from netkit import free_port
from testlimits import TIMEOUT_S, wait_for

MARKERS = {  # each at least 8 characters: a secret that every free text hides
    "ACC": "MARKacc0001", "KEY": "MARKkey0002", "SIG": "MARKsig0003", "SEG": "MARKseg0004",
    "TOK": "MARKtok0005", "PASS": "MARKpas0006",
}


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _retrying(events_out) -> set[str]:
    """The sources with a ``reconnecting`` status in the --events-out file so far."""
    lines = events_out.read_text().splitlines() if events_out.exists() else []
    events = [json.loads(line) for line in lines if line.endswith("}")]
    return {e["source"] for e in events if e["type"] == "status" and e["state"] == "reconnecting"}


def test_no_output_of_a_run_shows_a_secret_from_the_environment(tmp_path):
    port = _closed_port()
    where = f"127.0.0.1:{port}"
    env = {**os.environ, **MARKERS, "WHOLE": f"rtsp://{where}/whole-MARKwho0007"}
    config = tmp_path / "site.yaml"
    config.write_text(
        "sources:\n"
        f"  - {{id: query, url: 'rtsp://{where}/cam?access_token=${{ACC}}&api_key=${{KEY}}&sig=${{SIG}}&channel=1'}}\n"
        f"  - {{id: segment, url: 'rtsp://{where}/${{SEG}}/stream'}}\n"
        f"  - {{id: user, url: 'rtsp://${{TOK}}@{where}/s'}}\n"
        f"  - {{id: password, url: 'rtsp://admin:${{PASS}}@{where}/s'}}\n"
        "  - {id: whole, url: '${WHOLE}'}\n"
        f"feed:\n  log: {{path: {tmp_path / 'log.sqlite'}}}\n  snapshots: {{path: {tmp_path / 'snaps'}}}\n"
    )
    events_out, out, err = tmp_path / "events.jsonl", tmp_path / "stdout", tmp_path / "stderr"
    feed_port = free_port()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "-v", "run", "--config", str(config),
                                 "--port", str(feed_port), "--events-out", str(events_out)],
                                stdout=stdout, stderr=stderr, env=env)
        try:
            wait_for(lambda: len(_retrying(events_out)) == 5 or proc.poll() is not None, "every source to fail once and retry",
                     3 * TIMEOUT_S)
            assert proc.poll() is None, err.read_text()[-2000:]
            http = f"http://127.0.0.1:{feed_port}"
            pages = [urllib.request.urlopen(f"{http}{path}", timeout=TIMEOUT_S).read().decode() for path in ("/", "/metrics")]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(TIMEOUT_S)
    outputs = {"stderr": err.read_text(), "stdout": out.read_text(), "events-out": events_out.read_text(),
               "log": (tmp_path / "log.sqlite").read_bytes().decode("latin-1"), "console": pages[0], "metrics": pages[1]}
    leaks = {name: marker for name, text in outputs.items() for marker in [*MARKERS.values(), "MARKwho"] if marker in text}
    assert leaks == {}
    # The URLs still say where each camera is: scheme, host, port and path, substituted parts as ***.
    shown = outputs["events-out"]
    for label in (f"rtsp://{where}/cam?access_token=***&api_key=***&sig=***&channel=1", f"rtsp://{where}/***/stream",
                  f"rtsp://***@{where}/s", f"rtsp://admin:***@{where}/s"):
        assert label in shown and label in outputs["stderr"]
    assert "DEBUG" in outputs["stderr"]  # the -v logs were there to be grepped


def test_an_error_message_about_a_url_from_the_environment_hides_it(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sources:\n  - {id: cam, url: 'ftp://${TOK}@h/${SEG}'}\n")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, env={**os.environ, **MARKERS}, timeout=TIMEOUT_S)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"jepa-stream: error: {config}: sources[0].url: 'ftp://***@h/***': unsupported scheme "
                                   "'ftp' (use rtsp, rtsps, http, https, a webcam index or a file)")


def test_a_short_feed_token_is_warned_about_not_spread_over_the_log(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"feed:\n  log: {{path: {tmp_path / 'log.sqlite'}}}\n")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), "--source", "nope.mp4"],
                          capture_output=True, text=True, env={**os.environ, "JEPA_STREAM_TOKEN": "e"}, timeout=TIMEOUT_S)
    lines = done.stderr.splitlines()
    assert lines[0] == ("jepa-stream: warning: the feed token is shorter than 8 characters, so logs "
                        "cannot hide it without giving it away: use a longer one")
    assert "***" not in done.stderr and "no such file" in lines[-1]  # the text is whole, not "s***rv***r"
