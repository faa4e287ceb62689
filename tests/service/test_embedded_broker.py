"""The embedded brokers: a Mosquitto child process, and amqtt where Mosquitto is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from patrol.broker import BrokerEndpoint, amqtt_broker, embedded_broker, mosquitto_binary
from patrol.bus import BrokerAddress, MqttBus
from tests.conftest import need


async def _roundtrip(endpoint: BrokerEndpoint) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    seen = asyncio.Event()

    def on_msg(topic: str, payload: bytes) -> None:
        got.append((topic, payload))
        seen.set()

    bus = MqttBus(BrokerAddress(endpoint.host, endpoint.port), client_id="t-embedded")
    bus.subscribe("zigbee2mqtt/#", on_msg)
    async with bus, asyncio.TaskGroup() as tg:
        task = tg.create_task(bus.run())
        assert await bus.wait_connected(10)
        await asyncio.sleep(0.2)
        await bus.publish("zigbee2mqtt/door_1", b'{"contact": false}')
        await asyncio.wait_for(seen.wait(), 10)
        task.cancel()
    return got


async def test_amqtt_broker_roundtrip() -> None:
    async with amqtt_broker() as endpoint:
        assert endpoint.engine == "amqtt"
        assert await _roundtrip(endpoint) == [("zigbee2mqtt/door_1", b'{"contact": false}')]


async def test_embedded_prefers_mosquitto(tmp_path: Path) -> None:
    need(mosquitto_binary() is not None, "mosquitto is not installed")
    async with embedded_broker(tmp_path) as endpoint:
        assert endpoint.engine == "mosquitto"
        assert await _roundtrip(endpoint) == [("zigbee2mqtt/door_1", b'{"contact": false}')]
