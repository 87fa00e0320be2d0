"""A client written with an independent WebSocket implementation (Node's ``ws``) follows docs/PROTOCOL.md.

Needs ``node`` and the ``ws`` package: ``npm ci --prefix tests/streamer/node`` (CI runs it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from feedkit import TIMEOUT_S, caption, embedding, running, status
from streamer.feed.client import subscribe

NODE_DIR = Path(__file__).resolve().parents[1] / "node"

if shutil.which("node") is None:
    pytest.skip("node is not installed: the independent-client test needs Node.js >= 18", allow_module_level=True)
if not (NODE_DIR / "node_modules" / "ws").is_dir():
    pytest.skip(f"the npm package ws is not installed: run `npm ci --prefix {NODE_DIR}`", allow_module_level=True)


def test_node_ws_client_gets_the_same_events_as_the_python_client(bus):
    for i in range(3):
        bus.publish(caption(i))
    sent_embedding = embedding(dim=24)

    async def main(url):
        node = await asyncio.create_subprocess_exec("node", str(NODE_DIR / "client.mjs"), url, "1", "5", "tok",
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        python_events = []
        replayed = asyncio.Event()

        async def python_client():
            events = subscribe(url, types=["caption", "status", "embedding"], from_seq=1, token="tok",
                               embedding_format="binary")
            async for event in events:
                python_events.append(event)
                if len(python_events) == 2:
                    replayed.set()  # the replay is through: the subscription is live
                if len(python_events) == 5:
                    break
            await events.aclose()

        python_task = asyncio.create_task(python_client())
        try:
            line = await asyncio.wait_for(node.stdout.readline(), TIMEOUT_S)
            assert line.decode().strip() == "subscribed", (await node.stderr.read()).decode()
            node_replayed = [await asyncio.wait_for(node.stdout.readline(), TIMEOUT_S) for _ in range(2)]
            await asyncio.wait_for(replayed.wait(), TIMEOUT_S)
            # both replays are through, so the live events below keep their publishing order
            live = [await asyncio.to_thread(bus.publish, event)
                    for event in (status("reconnecting"), sent_embedding, caption(3))]
            node_out, node_err = await asyncio.wait_for(node.communicate(), TIMEOUT_S)
            node_out = b"".join(node_replayed) + node_out
            await asyncio.wait_for(python_task, TIMEOUT_S)
        finally:
            if node.returncode is None:
                node.kill()
                await node.wait()
        assert node.returncode == 0, node_err.decode()
        return [json.loads(line) for line in node_out.decode().splitlines()], python_events, live

    with running(bus, token="tok") as server:
        node_events, python_events, live = asyncio.run(main(server.url))

    assert [(e["type"], e.get("seq")) for e in node_events] == [("caption", 2), ("caption", 3), ("status", 4),
                                                                ("embedding", None), ("caption", 5)]
    expected_vector = sent_embedding["embedding"].astype(np.float16).astype(float)
    np.testing.assert_array_equal(np.array(node_events[3].pop("values")), expected_vector)
    np.testing.assert_array_equal(np.asarray(python_events[3].pop("embedding"), dtype=float), expected_vector)
    assert node_events == python_events
    assert node_events[2] == live[0] and node_events[4] == live[2]
    assert node_events[3] == {k: v for k, v in live[1].items() if k != "data"}
