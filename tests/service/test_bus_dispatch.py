"""The bus dispatcher: batches, idle spells and bursts all reach the handlers, each message once."""

from __future__ import annotations

import asyncio

from patrol.broker import BrokerEndpoint
from patrol.bus import BrokerAddress, MqttBus
from tests.reliability.helpers import eventually, paho_client


async def test_messages_after_idle_spells_and_in_bursts_are_each_handled_once(broker: BrokerEndpoint) -> None:
    got: list[bytes] = []
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id="test-bus-dispatch")
    bus.subscribe("test/bus-dispatch/+", lambda topic, payload: got.append(payload), qos=1)
    sender = paho_client(broker, "test-bus-dispatch-sender")
    try:
        async with bus, asyncio.TaskGroup() as tg:
            runner = tg.create_task(bus.run())
            assert await bus.wait_connected(5)
            await asyncio.sleep(0.2)  # the SUBSCRIBE is answered
            expected: list[bytes] = []
            for spell in range(3):  # single messages, each after the dispatcher has gone idle
                await asyncio.sleep(0.05)
                expected.append(f"single-{spell}".encode())
                sender.publish(f"test/bus-dispatch/{spell}", expected[-1], qos=1)
                await eventually(lambda: len(got) == len(expected), within=5)
            burst = [f"burst-{i}".encode() for i in range(3000)]  # more than one batch
            for payload in burst:
                sender.publish("test/bus-dispatch/burst", payload, qos=1)
            expected += burst
            await eventually(lambda: len(got) >= len(expected), within=20)
            runner.cancel()
        assert got == expected
        assert bus.stats.handled == bus.stats.received == len(expected)
        assert bus.stats.handler_errors == 0 and bus.stats.dropped_overflow == 0
    finally:
        sender.loop_stop()
        sender.disconnect()
