"""Simulated Zigbee2MQTT sensors against a real Mosquitto."""

from __future__ import annotations

import asyncio

from patrol.broker import BrokerEndpoint
from robots.clock import SimClock
from simulator.events import EventLog
from simulator.mqtt import BridgePublisher, BrokerSpec
from simulator.sensors import SensorNetwork, SensorSpec, discovery_configs
from tests.simulator.watch import watching

SPECS = [
    SensorSpec("door_t1", "door", 0.0, 0.0, "z1"),
    SensorSpec("pir_t1", "pir", 20.0, 0.0, "z1"),
    SensorSpec("fence_t1", "fence", 40.0, 0.0),
    SensorSpec("smoke_t1", "smoke", 60.0, 0.0),
    SensorSpec("water_t1", "water", 80.0, 0.0),
]
FIELDS = {"door": "contact", "pir": "occupancy", "fence": "vibration", "smoke": "smoke", "water": "water_leak"}


async def test_sensors_publish_zigbee2mqtt_json_and_trip_on_people(broker: BrokerEndpoint) -> None:
    clock = SimClock(1000.0)
    events = EventLog(clock)
    async with watching(broker, "zigbee2mqtt/#") as (_, inbox), \
            BridgePublisher(BrokerSpec(broker.host, broker.port), client_id="sim-test-sensors") as bridge:
        net = SensorNetwork(SPECS, bridge, clock, events=events, seed=1, heartbeat_s=30.0)
        await net.announce()
        for spec in SPECS:
            topic = f"zigbee2mqtt/{spec.name}"
            await inbox.wait(lambda ib: ib.of(topic))  # noqa: B023 (awaited within the iteration)
            first = inbox.of(topic)[0]
            assert FIELDS[spec.kind] in first
            assert 0 <= first["battery"] <= 100 and 0 <= first["linkquality"] <= 255
            assert first["last_seen"].endswith("Z")
        avail = [(t, p, r) for t, p, r in inbox.messages if t == "zigbee2mqtt/door_t1/availability"]
        assert avail and avail[0][1] == b"online"
        # people: someone walks past the door, into the PIR's range, and over the fence
        await net.observe([("p1", 0.5, 0.0)])
        await net.observe([("p1", 18.0, 1.0)])
        await net.observe([("p1", 40.0, 1.0)])
        await inbox.wait(lambda ib: any(m.get("contact") is False for m in ib.of("zigbee2mqtt/door_t1")))
        await inbox.wait(lambda ib: any(m.get("occupancy") for m in ib.of("zigbee2mqtt/pir_t1")))
        await inbox.wait(lambda ib: any(m.get("vibration") and m.get("action") == "vibration"
                                        for m in ib.of("zigbee2mqtt/fence_t1")))
        # the door closes again, occupancy clears after its timeout, heartbeats keep coming
        for _ in range(70):
            await clock.advance(1.0)
            await net.tick()
        await inbox.wait(lambda ib: ib.of("zigbee2mqtt/door_t1")[-1]["contact"] is True)
        await inbox.wait(lambda ib: ib.of("zigbee2mqtt/pir_t1")[-1]["occupancy"] is False)
        await inbox.wait(lambda ib: len(ib.of("zigbee2mqtt/smoke_t1")) >= 3)  # startup + heartbeats every ~30 s
        # smoke on demand
        await net.set_values("smoke_t1", {"smoke": True})
        await inbox.wait(lambda ib: ib.of("zigbee2mqtt/smoke_t1")[-1]["smoke"] is True)
        kinds = [e.kind for e in events]
        assert "sensor.trip" in kinds and "sensor.set" in kinds


async def test_silent_sensor_goes_offline_retained_and_comes_back(broker: BrokerEndpoint) -> None:
    clock = SimClock(0.0)
    async with BridgePublisher(BrokerSpec(broker.host, broker.port), client_id="sim-test-silent") as bridge:
        net = SensorNetwork([SensorSpec("water_silent", "water", 0.0, 0.0)], bridge, clock, heartbeat_s=10.0,
                            offline_after_s=60.0)
        await net.announce()
        await net.set_silent("water_silent", True)
        for _ in range(61):
            await clock.advance(1.0)
            await net.tick()
        async with asyncio.timeout(10):
            await bridge.flush()
        # a client that connects later sees the retained availability: offline
        async with watching(broker, "zigbee2mqtt/water_silent/availability") as (_, late):
            await late.wait(lambda ib: ib.messages and ib.messages[-1][1] == b"offline")
            assert late.messages[-1][2]  # retained
            await net.set_silent("water_silent", False)
            await late.wait(lambda ib: ib.messages[-1][1] == b"online")


def test_home_assistant_discovery_configs() -> None:
    configs = dict(discovery_configs(SensorSpec("door_x", "door", 0.0, 0.0)))
    binary = configs["homeassistant/binary_sensor/door_x/contact/config"]
    assert binary["state_topic"] == "zigbee2mqtt/door_x"
    assert binary["device_class"] == "door"
    assert binary["payload_on"] == "false"  # a door is "on" (open) when contact is false
    assert "homeassistant/sensor/door_x/battery/config" in configs
