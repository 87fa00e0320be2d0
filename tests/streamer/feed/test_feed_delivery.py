"""Delivery over real sockets: fan-out, order, resume with from_seq, restarts, slow clients."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time

import jsonschema
import pytest
from websockets.exceptions import ConnectionClosed

from feedkit import (TIMEOUT_S, caption, embedding, masked_frame, open_subscribed, publish, raw_connect, read_frame,
                     read_message, read_until_close, recv_json, recv_until, running, send_buffer_max, stats, status)
from streamer.feed.bus import EventBus
from streamer.feed.eventlog import EventLog, EventLogConfig
from streamer.feed.protocol import CloseCode, load_schema, prepare_event
from streamer.feed.server_config import ServerConfig


def test_stats_count_clients_events_sent_and_replayed(bus, server):
    bus.publish(caption(1))

    async def main():
        assert (await asyncio.to_thread(server.stats)).clients == 0
        ws, _, _ = await open_subscribed(server.url, types=["caption", "status", "embedding"], from_seq=0)
        await recv_until(ws, 1)  # caption 1, from the log
        await publish(bus, caption(2))
        await publish(bus, status("ended"))
        await publish(bus, embedding())
        await recv_until(ws, 3)
        deadline = time.monotonic() + TIMEOUT_S
        while (snapshot := await asyncio.to_thread(server.stats)).sent.get("embedding") != 1:  # counted once sent
            assert time.monotonic() < deadline, snapshot
            await asyncio.sleep(0.01)
        assert (snapshot.clients, snapshot.replayed, snapshot.connections) == (1, 1, 1)
        assert snapshot.sent == {"caption": 1, "status": 1, "embedding": 1}
        await ws.close()

    asyncio.run(main())


def test_hello_then_live_captions_and_status_by_default(bus, server):
    bus.publish(caption(1))

    async def main():
        ws, hello, _ = await open_subscribed(server.url)
        jsonschema.validate(hello, load_schema("hello"))
        assert (hello["protocol"], hello["last_seq"], hello["first_seq"]) == (1, 1, 1)
        assert (hello["sources"], hello["profile"]) == (["cam0"], "lite")
        await publish(bus, stats())  # not in the default subscription
        await publish(bus, caption(2))
        await publish(bus, status("ended"))
        got = await recv_until(ws, 2)
        assert [(e["type"], e["seq"]) for e in got] == [("caption", 2), ("status", 3)]
        for event in got:
            jsonschema.validate(event, load_schema(event["type"]))
        await ws.close()

    asyncio.run(main())


def test_200_concurrent_subscribers_receive_every_caption_in_order(bus, server):
    n_clients, n_events = 200, 40

    async def main():
        clients = await asyncio.gather(*(open_subscribed(server.url, types=["caption"]) for _ in range(n_clients)))
        assert server.connections == n_clients

        def pipeline():
            for i in range(n_events):
                bus.publish(caption(i, source=f"cam{i % 3}"))
                bus.publish(stats())  # filtered out for these subscribers

        publisher = asyncio.create_task(asyncio.to_thread(pipeline))
        received = await asyncio.gather(*(recv_until(ws, n_events) for ws, _, _ in clients))
        await publisher
        for events in received:
            assert [e["seq"] for e in events] == list(range(1, n_events + 1))
            assert [e["text"] for e in events] == [f"caption {i}" for i in range(n_events)]
        await asyncio.gather(*(ws.close() for ws, _, _ in clients))

    asyncio.run(main())


def test_source_and_type_filters(bus, server):
    async def main():
        ws, _, _ = await open_subscribed(server.url, types=["status", "stats"], sources=["cam1"])
        for event in (caption(1, source="cam1"), status(source="cam0"), stats(source="cam1"),
                      status("ended", source="cam1")):
            await publish(bus, event)
        got = await recv_until(ws, 2)
        assert [(e["type"], e["source"]) for e in got] == [("stats", "cam1"), ("status", "cam1")]
        await ws.close()

    asyncio.run(main())


def test_client_killed_mid_stream_resumes_with_exactly_the_missed_events(bus, server):
    total = 300
    done = threading.Event()

    def pipeline():  # keeps publishing while the client dies and comes back
        for i in range(total):
            bus.publish(caption(i))
            if i % 10 == 0:
                bus.publish(embedding(dim=16))
            time.sleep(0.001)
        done.set()

    async def main():
        ws, _, _ = await open_subscribed(server.url, types=["caption"])
        publisher = asyncio.create_task(asyncio.to_thread(pipeline))
        seqs = [e["seq"] for e in await recv_until(ws, 60)]
        ws.transport.abort()  # killed: no close handshake
        await asyncio.sleep(0.05)
        ws, _, ack = await open_subscribed(server.url, types=["caption"], from_seq=seqs[-1])
        assert ack["from_seq"] == seqs[-1]
        while len(seqs) < total:
            seqs.append((await recv_json(ws))["seq"])
        await publisher
        assert seqs == list(range(1, total + 1)), "no gap and no duplicate across the reconnection"
        await ws.close()

    asyncio.run(main())
    assert done.is_set()


def test_from_seq_replays_from_the_log_with_filters_then_goes_live(bus, server):
    for i in range(5):
        bus.publish(caption(i, source=f"cam{i % 2}"))
        bus.publish(status(source=f"cam{i % 2}"))

    async def main():
        ws, _, ack = await open_subscribed(server.url, types=["caption"], sources=["cam0"], from_seq=2)
        assert ack["last_seq"] == 10
        replayed = await recv_until(ws, 2)
        assert [(e["seq"], e["source"]) for e in replayed] == [(5, "cam0"), (9, "cam0")]
        await publish(bus, caption(9, source="cam0"))
        assert (await recv_json(ws))["seq"] == 11
        await ws.close()

    asyncio.run(main())


def test_resume_from_seqs_the_log_no_longer_or_never_held(tmp_path):
    async def main():
        bus = EventBus(EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite"), retention_max_events=3)))
        for i in range(6):
            bus.publish(caption(i))
        bus.log.prune()
        with running(bus) as server:
            ws, hello, _ = await open_subscribed(server.url, from_seq=1)
            assert hello["first_seq"] == 4
            error = await recv_json(ws)
            assert (error["type"], error["reason"]) == ("error", "from_seq_expired") and "2..3" in error["detail"]
            assert [e["seq"] for e in await recv_until(ws, 3)] == [4, 5, 6]
            await ws.close()

            ws, _, _ = await open_subscribed(server.url, from_seq=99)
            error = await recv_json(ws)
            assert (error["type"], error["reason"]) == ("error", "from_seq_ahead")
            await publish(bus, caption(7))
            assert (await recv_json(ws))["seq"] == 7, "live events still flow"
            await ws.close()
        bus.close()

    asyncio.run(main())


def test_ephemeral_events_are_not_replayed(bus, server):
    bus.publish(caption(1))
    bus.publish(stats())
    bus.publish(embedding(dim=8))
    bus.publish(caption(2))

    async def main():
        ws, _, _ = await open_subscribed(server.url, types=["caption", "stats", "embedding"], from_seq=0)
        assert [(e["type"], e["seq"]) for e in await recv_until(ws, 2)] == [("caption", 1), ("caption", 2)]
        await publish(bus, stats())
        assert (await recv_json(ws))["type"] == "stats"
        await ws.close()

    asyncio.run(main())


def test_a_new_server_over_the_same_log_keeps_history_and_seq(log_config):
    async def main():
        first_bus = EventBus(EventLog(log_config))
        with running(first_bus) as first:
            ws, _, _ = await open_subscribed(first.url, from_seq=0)
            for i in range(5):
                await publish(first_bus, caption(i))
            assert [e["seq"] for e in await recv_until(ws, 5)] == [1, 2, 3, 4, 5]
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd.code == CloseCode.GOING_AWAY
        first_bus.close()

        second_bus = EventBus(EventLog(log_config))
        with running(second_bus) as second:
            await publish(second_bus, caption(5))
            ws, hello, _ = await open_subscribed(second.url, types=["caption"], from_seq=3)
            assert hello["last_seq"] == 6
            assert [e["seq"] for e in await recv_until(ws, 3)] == [4, 5, 6]
            await ws.close()
        second_bus.close()

    asyncio.run(main())


def test_stop_joins_within_2_s_even_with_a_client_that_never_reads(bus):
    with running(bus) as server:
        sock = raw_connect(server.port, rcvbuf=4096)
        for _ in range(200):
            bus.publish(caption(1, text="x" * 2000))
        started = time.monotonic()
    assert time.monotonic() - started < 2.2 and not server.running
    sock.close()


def latencies(ws_list, count: int):
    async def collect(ws):
        out = []
        while len(out) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            if message["type"] == "caption":
                out.append(time.time() - message["wall_time"])
        return out
    return asyncio.gather(*(collect(ws) for ws in ws_list))


def test_a_slow_client_does_not_delay_the_others(bus):
    n_fast, n_events = 10, 250

    def pipeline() -> float:
        started = time.monotonic()
        for i in range(n_events):
            bus.publish(caption(i, text="x" * 500))
            bus.publish(embedding(dim=8192))  # 22 kB per message: more than the kernel buffers hold
            time.sleep(0.002)
        return time.monotonic() - started

    async def measure(server, slow: bool) -> tuple[float, float, list]:
        fast = [(await open_subscribed(server.url, types=["caption"]))[0] for _ in range(n_fast)]
        if slow:  # subscribed to everything, tiny receive buffer, never reads
            sock = raw_connect(server.port, rcvbuf=4096)
            sock.sendall(masked_frame(1, b'{"type":"subscribe","types":["caption","embedding","stats","status"]}'))
        publisher = asyncio.create_task(asyncio.to_thread(pipeline))
        results = await latencies(fast, n_events)
        publishing_s = await publisher
        for ws in fast:
            await ws.close()
        pushed_back = []
        if slow:  # now read what the slow client was sent: it must have been dropped for or cut off
            opcode = None
            while opcode != 8 and not any(m.get("type") == "lagging" for m in pushed_back):
                opcode, payload = await asyncio.to_thread(read_frame, sock)
                pushed_back.append(json.loads(payload) if opcode == 1 else {"close": payload[:2]})
            sock.close()
        p95 = statistics.quantiles([x for r in results for x in r], n=20)[18]
        return p95, publishing_s, pushed_back

    async def main():
        with running(bus, client_queue=32) as server:
            return await measure(server, slow=False), await measure(server, slow=True)

    (baseline, publishing_base, _), (with_slow, publishing_slow, pushed_back) = asyncio.run(main())
    assert publishing_slow < 3 * publishing_base + 0.5, "the pipeline never waits for a client"
    assert pushed_back[-1].get("type") == "lagging" or pushed_back[-1]["close"] == b"\x0f\xa0", pushed_back[-1]
    assert with_slow < 5 * baseline + 0.05, f"p95 {with_slow * 1e3:.1f} ms with a slow client, {baseline * 1e3:.1f} ms without"


def test_a_lagging_client_loses_embeddings_first_and_is_told(bus):
    # Far more embedding bytes than the server's socket buffers can absorb, so the queue surely overflows.
    message_bytes = len(prepare_event(embedding(dim=2048), None).utf8)
    n_embeddings = 3 * (send_buffer_max() + ServerConfig().write_limit_bytes) // message_bytes + 100
    every = -(-n_embeddings // 4)  # four captions among them
    with running(bus, client_queue=8) as server:
        sock = raw_connect(server.port, rcvbuf=4096)  # reads nothing until told
        sock.sendall(masked_frame(1, b'{"type":"subscribe","types":["caption","embedding"]}'))
        assert read_message(sock)["type"] == "hello"
        assert read_message(sock)["type"] == "subscribed"
        for i in range(n_embeddings):
            bus.publish(embedding(dim=2048))
            if i % every == 0:
                bus.publish(caption(i))
        snapshot = server.stats()  # taken on the loop, after every event above was offered
        # Lagging: it lost embeddings, and its queue cannot have emptied since (its socket is full).
        assert (snapshot.clients, snapshot.lagging, snapshot.connections) == (1, 1, 1)
        messages = []
        while (len([m for m in messages if m["type"] == "caption"]) < 4
               or not any(m["type"] == "lagging" for m in messages)):
            messages.append(read_message(sock))  # the notice comes at the latest once it drains
        sock.close()
    lagging = [m for m in messages if m["type"] == "lagging"]
    assert lagging and lagging[-1]["dropped"]["embedding"] > 0 and lagging[-1]["queue_max"] == 8
    jsonschema.validate(lagging[-1], load_schema("lagging"))
    embeddings_read = len([m for m in messages if m["type"] == "embedding"])
    assert embeddings_read < n_embeddings - lagging[-1]["dropped"]["embedding"] + 1
    assert [m["seq"] for m in messages if m["type"] == "caption"] == [1, 2, 3, 4], "captions all arrive"


def test_caption_overflow_closes_with_resume_code_and_resume_loses_nothing(bus):
    with running(bus, client_queue=8) as server:
        sock = raw_connect(server.port, rcvbuf=4096)
        for i in range(300):
            bus.publish(caption(i, text="y" * 40000))
        messages, code, reason = read_until_close(sock)
        sock.close()
        seqs = [m["seq"] for m in messages if m["type"] == "caption"]
        assert code == CloseCode.RESUME == 4000 and reason.endswith(f"from_seq {seqs[-1]}")
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < 300

        async def resume():
            ws, _, _ = await open_subscribed(server.url, from_seq=seqs[-1])
            rest = [e["seq"] for e in await recv_until(ws, 300 - len(seqs))]
            await ws.close()
            return rest

        assert seqs + asyncio.run(resume()) == list(range(1, 301))


def test_full_replays_to_many_clients_do_not_starve_a_live_client(tmp_path):
    n_logged, n_replaying, n_live = 20_000, 10, 20
    log = EventLog(EventLogConfig(path=str(tmp_path / "e.sqlite"), fsync=False))
    bus = EventBus(log, sources=["cam0"])
    for i in range(n_logged):
        bus.publish(caption(i, text="z" * 1000))

    async def main():
        with running(bus) as server:
            live, _, _ = await open_subscribed(server.url, types=["caption"])
            catching_up = [(await open_subscribed(server.url, types=["caption"], from_seq=0))[0]
                           for _ in range(n_replaying)]
            replayed = [0] * n_replaying

            async def drain(k, ws):
                while replayed[k] < n_logged + n_live:
                    await ws.recv()
                    replayed[k] += 1

            readers = [asyncio.create_task(drain(k, ws)) for k, ws in enumerate(catching_up)]
            delays = []
            for i in range(n_live):
                await publish(bus, caption(i))
                delays.append(time.time() - (await recv_json(live))["wall_time"])
                await asyncio.sleep(0.02)
            still_replaying = sum(r < n_logged for r in replayed)
            await asyncio.wait_for(asyncio.gather(*readers), TIMEOUT_S)
            for ws in (live, *catching_up):
                await ws.close()
            return statistics.median(delays), still_replaying

    median_delay, still_replaying = asyncio.run(main())
    bus.close()
    assert still_replaying > 0, "the live events went out while clients were still catching up"
    assert median_delay < 0.02, f"live median delay {median_delay * 1e3:.0f} ms during {n_replaying} full replays"
