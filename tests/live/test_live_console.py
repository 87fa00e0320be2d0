"""The console page follows a real RTSP camera through an outage: reconnecting (with the attempt),
then connected again. Headless Chromium, a real GStreamer RTSP server on loopback, `jepa-stream run`."""

from __future__ import annotations

import pytest

from browserkit import Analyzer, browser, chromium_unavailable, wait_js
from testlimits import TIMEOUT_S

pytestmark = [pytest.mark.skipif(chromium_unavailable() is not None, reason=str(chromium_unavailable())),
              pytest.mark.timeout(TIMEOUT_S * 4)]

STATUS = "document.querySelector('.tile[data-source=\"cam0\"] .status')"


def test_the_tile_shows_a_camera_reconnecting_and_recovering(rtsp_server, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("capture:\n  backoff_initial_s: 0.5\n  backoff_max_s: 1.0\n  stall_timeout_s: 3.0\n  read_timeout_s: 2.0\n"
                      f"feed:\n  log:\n    path: {tmp_path / 'events.sqlite'}\n")
    analyzer = Analyzer(["--config", str(config), "--source", f"cam0={rtsp_server.url}"])
    try:
        with browser() as page:
            page.get(analyzer.page_url)
            wait_js(page, f"return {STATUS}?.dataset.state === 'connected'", "cam0 connected")
            wait_js(page, "return document.querySelector('.tile[data-source=\"cam0\"] .caption').textContent !== 'no caption yet'",
                    "a caption from cam0")

            rtsp_server.stop()
            attempt = wait_js(page, f"const s = {STATUS}; return s.dataset.state === 'reconnecting' && Number(s.dataset.attempt)",
                              "cam0 reconnecting", timeout=2 * TIMEOUT_S)
            assert attempt >= 1
            assert page.execute_script(f"return {STATUS}.textContent") == f"reconnecting (attempt {attempt})"

            rtsp_server.start()
            wait_js(page, f"return {STATUS}.dataset.state === 'connected'", "cam0 connected again", timeout=2 * TIMEOUT_S)
            page.save_screenshot(str(tmp_path / "console-recovered.png"))
    finally:
        status = analyzer.stop()
    assert status == 0, "".join(analyzer.lines[-20:])
