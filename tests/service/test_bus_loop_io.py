"""The bus's socket I/O on the event loop: chunked reads, back-pressure by pausing reads, publishing
from another thread, and the bench's raw-socket load publisher against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import threading

from patrol.bench_load import publish_states, state_topic
from patrol.broker import BrokerEndpoint
from patrol.bus import BrokerAddress, MqttBus
from tests.reliability.helpers import eventually, paho_client


async def test_raw_load_publisher_messages_arrive_whole_through_chunked_reads(broker: BrokerEndpoint) -> None:
    """Thousands of messages read in large chunks: every one parsed whole, in order per robot."""
    got: list[tuple[str, bytes]] = []
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id="test-bus-chunked")
    bus.subscribe("uagv/v2/bench/+/state", lambda topic, payload: got.append((topic, payload)), qos=0)
    async with bus, asyncio.TaskGroup() as tg:
        runner = tg.create_task(bus.run())
        assert await bus.wait_connected(5)
        await asyncio.sleep(0.2)  # the SUBSCRIBE is answered
        report = await asyncio.to_thread(publish_states, broker.host, broker.port, 0, 5000, [0, 1, 2],
                                         [(1.0, 2.0)], "test-bus-chunked-load")
        assert report.sent == 5000 and report.offered_msg_s > 0
        await eventually(lambda: len(got) >= 5000, within=20)
        runner.cancel()
    assert len(got) == 5000
    for k, (topic, payload) in enumerate(got):
        assert topic == state_topic(k % 3)
        state = json.loads(payload)
        assert state["serialNumber"] == f"r{k % 3:04d}" and state["timestamp"].endswith("Z")
    assert bus.stats.received == bus.stats.handled == 5000 and bus.stats.dropped_overflow == 0


async def test_full_buffer_pauses_reading_and_loses_nothing(broker: BrokerEndpoint) -> None:
    """With the dispatcher not yet running the buffer fills; the bus stops reading (the broker holds
    the rest) and once the dispatcher drains it, every message is handled exactly once."""
    got: list[bytes] = []
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id="test-bus-backpressure", buffer_size=100)
    bus.subscribe("test/bus-backpressure/+", lambda topic, payload: got.append(payload), qos=1)
    sender = paho_client(broker, "test-bus-backpressure-sender")
    try:
        async with bus:
            assert await bus.wait_connected(5)
            await asyncio.sleep(0.2)
            expected = [f"m-{i}".encode() for i in range(1500)]
            for payload in expected:
                sender.publish("test/bus-backpressure/x", payload, qos=1)
            await eventually(lambda: bus.stats.read_pauses >= 1, within=10)
            await asyncio.sleep(0.3)
            assert bus.stats.received <= 101, "the bus kept reading past its full buffer"
            async with asyncio.TaskGroup() as tg:
                runner = tg.create_task(bus.run())
                await eventually(lambda: len(got) >= len(expected), within=20)
                runner.cancel()
        assert got == expected
        assert bus.stats.dropped_overflow == 0 and bus.stats.handled == len(expected)
    finally:
        sender.loop_stop()
        sender.disconnect()


async def test_publish_nowait_from_another_thread_is_delivered(broker: BrokerEndpoint) -> None:
    seen: list[bytes] = []
    watcher = paho_client(broker, "test-bus-thread-watcher")
    watcher.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    watcher.subscribe("test/bus-thread/out", qos=1)
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id="test-bus-thread")
    try:
        async with bus:
            assert await bus.wait_connected(5)
            await asyncio.sleep(0.2)

            def publish_from_worker() -> None:
                for i in range(50):
                    bus.publish_nowait("test/bus-thread/out", f"t{i}".encode())

            worker = threading.Thread(target=publish_from_worker)
            worker.start()
            await asyncio.to_thread(worker.join)
            bus.publish_nowait("test/bus-thread/out", b"loop")
            await eventually(lambda: len(seen) == 51, within=10)
        assert seen == [f"t{i}".encode() for i in range(50)] + [b"loop"]
        assert bus.stats.published == 51 and bus.stats.publish_failures == 0
    finally:
        watcher.loop_stop()
        watcher.disconnect()
