"""docs/SCALING.md shows a cluster config and a site config that work: this runs them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from natskit import NatsServer, nats_binary
from pipelines.config import load_config
from streamer.feed.bus_config import BusConfig
from streamer.feed.engine import open_engine
from streamer.feed.eventlog import EventLogConfig
from streamer.feed.protocol import prepare_event
from feedkit import caption
from testlimits import TIMEOUT_S

DOC = (Path(__file__).resolve().parents[3] / "docs" / "SCALING.md").read_text()


def block(language: str) -> str:
    (text,) = re.findall(rf"```{language}\n(.*?)```", DOC, re.S)
    return text


def test_the_site_config_of_the_doc_loads(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(block("yaml"))
    bus = load_config(path).feed.bus
    assert bus.servers == ["nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"]
    assert (bus.site, bus.stream_replicas, bus.stream) == ("lab", 3, "JEPA_lab")


@pytest.mark.skipif(nats_binary() is None, reason="nats-server is not installed")
def test_the_three_node_config_of_the_doc_forms_a_cluster_that_keeps_three_replicas(tmp_path):
    nodes = [NatsServer(tmp_path / f"n{i}", f"n{i}", cluster=True) for i in (1, 2, 3)]
    for i, node in enumerate(nodes, 1):
        text = block("conf").replace("server_name: n1", f"server_name: n{i}")
        text = text.replace("0.0.0.0:4222", f"127.0.0.1:{node.port}").replace("0.0.0.0:6222",
                                                                              f"127.0.0.1:{node.cluster_port}")
        text = text.replace("/var/lib/nats", str(node.folder / "store"))
        for j, peer in enumerate(nodes, 1):
            text = text.replace(f"nats://nats-{j}:6222", peer.cluster_url)
        assert "nats-" not in text and "0.0.0.0" not in text, "every host of the doc was moved to loopback"
        node.config_text = text
    try:
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_healthy()
        config = BusConfig(url=",".join(n.url for n in nodes), site="lab", stream_replicas=3)
        engine = open_engine(config, EventLogConfig(), "doc-test", wait_s=TIMEOUT_S)
        try:
            assert engine.log.append(prepare_event(caption(1), 0)) == 1
            info = engine.link.call(engine.log.js.stream_info(config.stream), TIMEOUT_S)
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2
            assert {info.cluster.leader, *(r.name for r in info.cluster.replicas)} == {"n1", "n2", "n3"}
        finally:
            engine.close()
    finally:
        for node in nodes:
            node.stop()
