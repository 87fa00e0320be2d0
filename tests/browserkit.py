"""Helpers for the console's browser tests: headless Chromium from Debian, and `jepa-stream run`.

Exports :func:`chromium_unavailable`, :func:`browser`, :class:`Analyzer`, :func:`wait_js` and
:func:`canvas_drawn`.

Chromium and its driver are the system's (``apt install chromium chromium-driver``), driven by
Selenium with the driver's path given, so Selenium never downloads one. Every wait is bounded by
the suite's one timeout constant.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from testlimits import TIMEOUT_S

CHROMIUM = os.environ.get("JEPA_STREAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("JEPA_STREAM_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def chromium_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} not found (apt install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def browser(width: int = 1400, height: int = 1000):
    """A headless Chromium page (Selenium WebDriver), quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_js(driver, script: str, what: str, timeout: float = TIMEOUT_S):
    """Wait until ``script`` (a JavaScript function body) returns something truthy; return it."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def canvas_drawn(selector: str) -> str:
    """A script for :func:`wait_js`: whether the canvas at ``selector`` has a painted pixel."""
    return (f"const c = document.querySelector({selector!r}); if (!c) return false;"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false;")


class Analyzer:
    """``jepa-stream run`` in a subprocess on ``port`` (0: a free one); ``page_url`` once it serves.
    Its stderr is drained by a thread (kept in ``lines``) so it never blocks on a full pipe."""

    def __init__(self, args: list[str], env: dict | None = None, port: int = 0):
        self.proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--port", str(port), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self.page_url: str | None = None
        self._served = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._served.wait(TIMEOUT_S):
            self.stop()
            raise AssertionError("jepa-stream run did not print its console URL:\n" + "".join(self.lines[-20:]))

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            match = re.search(r"console on (http://\S+)", line)
            if match:
                self.page_url = match.group(1)
                self._served.set()
        self._served.set()

    def stop(self) -> int:
        """SIGTERM (how `run` is meant to end), then wait; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


