"""End to end with a real Mosquitto: devices publish over MQTT, the service's bus feeds ingest, the
alarm state comes back retained on the broker; a restart in the middle loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import aiomqtt
import orjson

from patrol.alarms.model import Actor, AlarmType, EscalationAction
from patrol.alarms.service import AlarmFilter
from patrol.broker import BrokerEndpoint
from patrol.bus import BrokerAddress, MqttBus
from patrol.sensors.service import SUBSCRIPTIONS
from robots.clock import SimClock
from tests.alarms.harness import ARMED_NIGHT, OFFICE_POINT, FakeDispatch, Harness, make_harness

OPERATOR = Actor("olga", "operator", "10.0.0.7")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 15.0) -> None:
    for _ in range(int(timeout_s / 0.02)):  # polls the store and the broker, which real I/O updates
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@contextlib.asynccontextmanager
async def service(broker: BrokerEndpoint, database: str, clock: SimClock,
                  dispatch: FakeDispatch) -> AsyncIterator[Harness]:
    """The alarm and sensor services behind the real MQTT bus, as the lifespan wires them."""
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id=f"svc-{secrets.token_hex(4)}")
    h = await make_harness(database, clock, publisher=bus, dispatch=dispatch)
    for pattern in SUBSCRIPTIONS:
        bus.subscribe(pattern, h.sensors.handle_message)
    await bus.start()
    runner = asyncio.create_task(bus.run())
    try:
        assert await bus.wait_connected(10), "service bus did not connect"
        await asyncio.sleep(0.2)  # subscriptions are sent on connect
        yield h
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await bus.stop()
        await h.close()


async def retained_alarms(broker: BrokerEndpoint) -> dict[int, dict[str, object]]:
    found: dict[int, dict[str, object]] = {}
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"obs-{secrets.token_hex(4)}") as client:
        await client.subscribe("parkpatrol/alarms/+", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                async for message in client.messages:
                    state = orjson.loads(bytes(message.payload))
                    found[int(state["id"])] = state
    return found


def vision_event(kind: str, event_id: str) -> bytes:
    after = {"id": event_id, "camera": "cam_test", "label": "person", "score": 0.87, "top_score": 0.91,
             "zones": [], "box": [100, 40, 180, 300], "start_time": ARMED_NIGHT, "end_time": None,
             "has_snapshot": True, "x": OFFICE_POINT[0], "y": OFFICE_POINT[1]}
    return orjson.dumps({"type": kind, "before": after, "after": after})


async def test_door_and_vision_make_one_incident_through_restart(broker: BrokerEndpoint, database: str) -> None:
    clock = SimClock(ARMED_NIGHT)
    dispatch = FakeDispatch()
    event_id = f"{ARMED_NIGHT:.1f}-{secrets.token_hex(3)}"
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"dev-{secrets.token_hex(4)}") as devices:
        async with service(broker, database, clock, dispatch) as h:
            await devices.publish("zigbee2mqtt/door_tp_lab", orjson.dumps({"contact": True, "battery": 95}), qos=1)
            await devices.publish("zigbee2mqtt/door_tp_lab", orjson.dumps({"contact": False, "battery": 95}), qos=1)
            await devices.publish("parkpatrol/vision/events", vision_event("new", event_id), qos=1)
            await devices.publish("zigbee2mqtt/not_on_the_map", b"{\"contact\": false}", qos=1)
            await devices.publish("zigbee2mqtt/door_tp_lab", b"\x00garbage", qos=1)

            async def both() -> bool:
                return len(await h.alarms.list_alarms(AlarmFilter(active=True))) == 2 and \
                    h.sensors.counters.malformed == 1

            await eventually(both, "door and vision alarms raised")
            await h.alarms.drain()
            assert h.sensors.counters.unknown_devices == 1
            incidents = await h.alarms.list_incidents()
            assert len(incidents) == 1
            incident = await h.alarms.get_incident(incidents[0].id)
            kinds = [e.kind for e in incident.timeline]
            assert "sensor_trip" in kinds and "camera_event" in kinds
            camera = next(e for e in incident.timeline if e.kind == "camera_event")
            assert camera.detail["snapshot"] == f"/api/vision/events/{event_id}/snapshot.jpg"
            assert [(c[0], c[3], c[4]) for c in dispatch.calls] == [(incident.id, "tz_office", "MAJOR")]
            assert incident.robot_id == "dog-1"
            door = await h.alarms.active_alarm("sensor:door_tp_lab", AlarmType.INTRUSION)
            assert door is not None
            # nobody acknowledges: the first escalation step fires
            await clock.advance(h.alarms.policy.escalation[0].after_s + 1)
            await h.alarms.escalator.step()
            assert {(a, action) for a, _, action in h.alarms.escalator.fired} == {
                (a.id, EscalationAction.BANNER) for a in await h.alarms.list_alarms(AlarmFilter(active=True))}

            async def retained_level() -> bool:
                return (await retained_alarms(broker)).get(door.id, {}).get("escalation_level") == 1

            await eventually(retained_level, "escalated state retained on the broker")

        # restart in the middle: new service objects on the same database
        async with service(broker, database, clock, dispatch) as h2:
            # the ongoing condition is reported again (the door is still open, the tracker still sees the person)
            await devices.publish("zigbee2mqtt/door_tp_lab", orjson.dumps({"contact": False, "battery": 95}), qos=1)
            await devices.publish("parkpatrol/vision/events", vision_event("update", event_id), qos=1)

            async def repeated() -> bool:
                vision = await h2.alarms.active_alarm("camera:cam_test", AlarmType.VISION)
                return vision is not None and vision.count == 2

            await eventually(repeated, "vision update after restart counted on the existing alarm")
            await h2.alarms.drain()
            assert len(await h2.alarms.list_alarms()) == 2  # no duplicate alarm
            assert len(await h2.alarms.list_incidents()) == 1
            assert len(dispatch.calls) == 1
            # acknowledging stops escalation of the door alarm; the unacknowledged vision alarm goes on
            await h2.alarms.ack(door.id, OPERATOR)
            await clock.advance(1000)
            await h2.alarms.escalator.step()
            assert {a for a, _, _ in h2.alarms.escalator.fired} == {
                a.id for a in await h2.alarms.list_alarms(AlarmFilter(type=AlarmType.VISION))}
            assert (await h2.alarms.get_alarm(door.id)).escalation_level == 1
            actions = [(e.action, e.target) for e in reversed(await h2.audit.entries(limit=1000))]
            steps = [a for a, _ in actions]
            assert steps.count("alarm.raised") == 2 and steps.count("incident.opened") == 1
            assert "incident.dispatch" in steps and ("alarm.ack", f"alarm:{door.id}") in actions
            assert steps.index("alarm.escalate") < steps.index("alarm.ack")
            assert await h2.audit.verify() is None
