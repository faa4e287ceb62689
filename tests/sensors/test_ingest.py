"""Zigbee2MQTT / Home Assistant / vision / camera ingest through `SensorService.handle_message`."""

from __future__ import annotations

import orjson

from patrol.alarms.model import Actor, AlarmType, ArmingMode, Severity
from patrol.alarms.service import AlarmFilter
from patrol.sensors.schemas import SensorPlace
from tests.alarms.harness import OFFICE_POINT, Harness

SUPERVISOR = Actor("sam", "supervisor", "10.0.0.9")


def js(**fields: object) -> bytes:
    return orjson.dumps(fields)


async def test_door_trip_in_armed_zone_raises_one_intrusion(harness: Harness) -> None:
    s = harness.sensors
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=True, battery=90, linkquality=120))
    assert await harness.alarms.count_active() == 0
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=False, battery=90))
    # the same state repeated (e.g. a battery report) is not a new trip
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=False, battery=89))
    # closing and opening again within the contact debounce is dropped
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=True))
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=False))
    assert s.counters.debounced == 1
    alarms = await harness.alarms.list_alarms(AlarmFilter(active=True))
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm.type, alarm.source, alarm.zone, alarm.count) == (AlarmType.INTRUSION, "sensor:door_tp_lab",
                                                                   "tz_office", 1)
    # a trip after the debounce counts as a repeat of the same alarm (suppressed: no new alarm)
    await harness.clock.advance(5)
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=True))
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=False))
    again = await harness.alarms.list_alarms(AlarmFilter(active=True))
    assert len(again) == 1 and again[0].count == 2 and s.counters.suppressed == 1


async def test_trip_in_disarmed_zone_is_counted_not_alarmed(harness: Harness) -> None:
    await harness.alarms.arming.set_mode("tz_office", ArmingMode.DISARMED, SUPERVISOR)
    await harness.sensors.handle_message("zigbee2mqtt/door_tp_lab", js(contact=False))
    await harness.sensors.handle_message("zigbee2mqtt/fence_tp_1", js(vibration=True))  # in no zone
    assert await harness.alarms.count_active() == 0
    assert harness.sensors.counters.trips_unarmed == 2


async def test_smoke_water_tamper_raise_and_clear_regardless_of_arming(harness: Harness) -> None:
    s = harness.sensors
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(occupancy=False, tamper=True))
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=True, smoke=True, water_leak=True))
    kinds = {a.type: a for a in await harness.alarms.list_alarms(AlarmFilter(active=True))}
    assert set(kinds) == {AlarmType.TAMPER, AlarmType.SMOKE, AlarmType.WATER}
    assert kinds[AlarmType.SMOKE].severity == Severity.CRITICAL
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact=True, smoke=False, water_leak=False))
    active = await harness.alarms.list_alarms(AlarmFilter(active=True))
    assert [a.type for a in active] == [AlarmType.TAMPER]


async def test_low_battery_with_hysteresis(harness: Harness) -> None:
    s = harness.sensors
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(battery=12))
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(battery=17))  # still below the recovery level
    low = await harness.alarms.list_alarms(AlarmFilter(type=AlarmType.SENSOR_LOW_BATTERY))
    assert len(low) == 1 and low[0].active and low[0].severity == Severity.WARNING
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(battery=100))
    assert not (await harness.alarms.list_alarms(AlarmFilter(type=AlarmType.SENSOR_LOW_BATTERY)))[0].active


async def test_availability_and_expire_after(harness: Harness) -> None:
    s = harness.sensors
    await s.handle_message("zigbee2mqtt/door_tp_lab/availability", js(state="offline"))
    offline = await harness.alarms.active_alarm("sensor:door_tp_lab", AlarmType.SENSOR_OFFLINE)
    assert offline is not None
    await s.handle_message("zigbee2mqtt/door_tp_lab/availability", b"online")
    assert await harness.alarms.active_alarm("sensor:door_tp_lab", AlarmType.SENSOR_OFFLINE) is None
    # silence: the fence never reports, the PIR reports just in time
    await harness.clock.advance(s.policy.expire_after_s - 10)
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(occupancy=False))
    await harness.clock.advance(20)
    assert await s.expire() == 2  # the door (seen at start) and the fence (never seen)
    assert await harness.alarms.active_alarm("sensor:fence_tp_1", AlarmType.SENSOR_OFFLINE) is not None
    assert await harness.alarms.active_alarm("sensor:pir_tp_lawn", AlarmType.SENSOR_OFFLINE) is None
    assert await s.expire() == 0  # raised once, not again every tick
    await s.handle_message("zigbee2mqtt/fence_tp_1", js(vibration=False))
    assert await harness.alarms.active_alarm("sensor:fence_tp_1", AlarmType.SENSOR_OFFLINE) is None


async def test_discovery_registers_pending_until_placed(harness: Harness) -> None:
    s = harness.sensors
    config = {
        "name": None, "object_id": "store_door_contact", "state_topic": "zigbee2mqtt/store_door",
        "device_class": "door", "value_template": "{{ value_json.contact }}", "expire_after": 600,
        "device": {"identifiers": ["zigbee2mqtt_0x00158d0001a2b3c4"], "name": "store_door",
                   "model": "MCCGQ11LM", "manufacturer": "Aqara"},
    }
    await s.handle_message("homeassistant/binary_sensor/0x00158d0001a2b3c4/contact/config", orjson.dumps(config))
    battery = {**config, "device_class": "battery", "value_template": "{{ value_json.battery }}"}
    await s.handle_message("homeassistant/sensor/0x00158d0001a2b3c4/battery/config", orjson.dumps(battery))
    pending = await s.sensors("pending")
    assert [(p.id, p.kind, p.capabilities, p.model, p.expire_after_s) for p in pending] == [
        ("store_door", "door", ["battery", "contact"], "MCCGQ11LM", 600.0)]
    # messages from a pending device are kept (readings) but raise nothing
    await s.handle_message("zigbee2mqtt/store_door", js(contact=False, battery=80))
    assert await harness.alarms.count_active() == 0 and s.counters.pending_device_messages == 1
    placed = await s.place("store_door", SensorPlace(x=OFFICE_POINT[0], y=OFFICE_POINT[1]), SUPERVISOR)
    assert (placed.status, placed.zone, placed.kind, placed.placed_by) == ("placed", "tz_office", "door", "sam")
    await s.handle_message("zigbee2mqtt/store_door", js(contact=True))
    await s.handle_message("zigbee2mqtt/store_door", js(contact=False))
    assert await harness.alarms.active_alarm("sensor:store_door", AlarmType.INTRUSION) is not None
    assert (await harness.audit.entries(action="sensor.place"))[0].target == "sensor:store_door"
    assert s.counters.discovered == 1


async def test_unknown_devices_and_malformed_payloads_are_counted(harness: Harness) -> None:
    s = harness.sensors
    await s.handle_message("zigbee2mqtt/mystery_plug", js(state="ON"))
    await s.handle_message("zigbee2mqtt/door_tp_lab", b"{not json")
    await s.handle_message("zigbee2mqtt/door_tp_lab", b"[1, 2]")
    await s.handle_message("zigbee2mqtt/door_tp_lab", js(contact="open", battery=250, temperature=21.5))
    await s.handle_message("zigbee2mqtt/bridge/state", js(state="online"))
    await s.handle_message("parkpatrol/vision/events", js(type="new"))
    await s.handle_message("parkpatrol/cameras/cam_nowhere/status", b"offline")
    await s.handle_message("homeassistant/sensor/x/config", b"\xff\xfe")
    c = s.counters
    assert (c.unknown_devices, c.malformed, c.malformed_fields, c.bridge, c.unknown_cameras) == (1, 4, 2, 1, 1)
    assert await harness.alarms.count_active() == 0


async def test_vision_events_and_camera_status(harness: Harness) -> None:
    s = harness.sensors
    after = {"id": "1700000000.1-abc", "camera": "cam_test", "label": "person", "score": 0.82, "top_score": 0.9,
             "zones": ["gate"], "box": [10, 20, 80, 200], "start_time": 1700000000.1, "end_time": None,
             "has_snapshot": True, "x": OFFICE_POINT[0], "y": OFFICE_POINT[1]}
    await s.handle_message("parkpatrol/vision/events", orjson.dumps({"type": "new", "before": after, "after": after}))
    await s.handle_message("parkpatrol/vision/events", orjson.dumps({"type": "update", "before": after,
                                                                     "after": after}))  # nothing new
    await s.handle_message("parkpatrol/vision/events", orjson.dumps({"type": "end", "after": after}))
    cat = {**after, "id": "e2", "label": "cat"}
    await s.handle_message("parkpatrol/vision/events", orjson.dumps({"type": "new", "after": cat}))
    vision = await harness.alarms.list_alarms(AlarmFilter(type=AlarmType.VISION))
    assert len(vision) == 1 and vision[0].count == 1 and vision[0].zone == "tz_office"
    assert vision[0].severity == Severity.MAJOR  # the office is armed at night
    assert vision[0].details["snapshot"] == "/api/vision/events/1700000000.1-abc/snapshot.jpg"
    assert s.counters.vision_ignored == 3
    await s.handle_message("parkpatrol/cameras/cam_test/status", b"offline")
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(status="offline"))
    assert (await harness.alarms.active_alarm("camera:cam_test", AlarmType.CAMERA_OFFLINE)) is not None
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(status="online"))
    assert (await harness.alarms.active_alarm("camera:cam_test", AlarmType.CAMERA_OFFLINE)) is None


async def test_camera_whose_status_goes_silent_is_raised_offline(harness: Harness) -> None:
    """A vision worker refreshes each camera's status; one that dies without handing over leaves a
    retained `online` behind. Silence past the policy's limit raises camera offline; any new status
    (another worker taking the camera over) ends it."""
    s = harness.sensors
    stale = s.policy.camera_status_stale_s
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(state="online", worker="w1", fps=5.0))
    await harness.clock.advance(stale - 5)
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(state="online", worker="w1", fps=5.0))
    await harness.clock.advance(stale - 5)
    assert await s.expire_cameras() == 0  # refreshed in time
    await harness.clock.advance(10)
    assert await s.expire_cameras() == 1
    alarm = await harness.alarms.active_alarm("camera:cam_test", AlarmType.CAMERA_OFFLINE)
    assert alarm is not None and "no vision worker is watching it" in alarm.message
    assert alarm.details["reason"] == "status silent" and alarm.details["silent_s"] == stale + 5
    await harness.clock.advance(stale * 3)
    assert await s.expire_cameras() == 0  # raised once, not every tick
    assert s.counters.cameras_stale == 1
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(state="online", worker="w2", fps=5.0))
    assert (await harness.alarms.active_alarm("camera:cam_test", AlarmType.CAMERA_OFFLINE)) is None
    # a camera reported offline is already raised: silence adds nothing
    await s.handle_message("parkpatrol/cameras/cam_test/status", js(state="offline", worker="w2"))
    await harness.clock.advance(stale * 2)
    assert await s.expire_cameras() == 0


async def test_readings_are_downsampled(harness: Harness) -> None:
    s = harness.sensors
    bucket = s.policy.reading_bucket_s
    await harness.clock.advance(bucket - harness.clock.now() % bucket)  # start of a bucket
    for value in (20.0, 22.0, 24.0):
        await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(temperature=value, humidity=50))
        await harness.clock.advance(10)
    await harness.clock.advance(bucket)
    await s.handle_message("zigbee2mqtt/pir_tp_lawn", js(temperature=30.0))
    assert await s.readings.flush(harness.clock.now()) == 2  # temperature and humidity of the first bucket
    history = await s.history("pir_tp_lawn", "temperature")
    assert [(r.count, r.min, r.max, r.mean, r.last) for r in history] == [(3, 20.0, 24.0, 22.0, 24.0)]
    await s.readings.flush(harness.clock.now(), everything=True)
    assert [r.last for r in await s.history("pir_tp_lawn", "temperature")] == [30.0, 24.0]


async def test_events_of_the_vision_workers(harness: Harness) -> None:
    """Payloads built with the vision package's own event model (nested map position, rules, snapshots)."""
    from vision.events import EventState, MapPosition, VisionEvent

    s = harness.sensors
    first = EventState(id="ev-1", camera="dog-1-front", label="person", score=0.8, top_score=0.8,
                       box=[1, 2, 30, 90], area=2000, zones=[], current_zones=[], rules=["office_night"],
                       start_time=harness.clock.now(), position=MapPosition(x=OFFICE_POINT[0], y=OFFICE_POINT[1]),
                       robot="dog-1")
    await s.handle_message("parkpatrol/vision/events",
                           VisionEvent(type="new", before=first, after=first).model_dump_json().encode())
    snap = first.model_copy(update={"has_snapshot": True})
    await s.handle_message("parkpatrol/vision/events",
                           VisionEvent(type="update", before=first, after=snap).model_dump_json().encode())
    fall = snap.model_copy(update={"rules": ["office_night", "fall_anywhere"]})
    await s.handle_message("parkpatrol/vision/events",
                           VisionEvent(type="update", before=snap, after=fall).model_dump_json().encode())
    bogus = first.model_copy(update={"id": "ev-2", "false_positive": True})
    await s.handle_message("parkpatrol/vision/events",
                           VisionEvent(type="new", before=bogus, after=bogus).model_dump_json().encode())
    alarm = await harness.alarms.active_alarm("camera:dog-1-front", AlarmType.VISION)
    assert alarm is not None and alarm.count == 1 and alarm.zone == "tz_office"  # robot camera: zone from position
    timeline = (await harness.alarms.get_alarm(alarm.id)).timeline
    assert [e.kind for e in timeline] == ["raised", "camera_snapshot", "camera_event"]
    assert timeline[1].detail["snapshot"] == "/api/vision/events/ev-1/snapshot.jpg"
    assert timeline[2].detail["new_rules"] == ["fall_anywhere"] and timeline[2].detail["robot"] == "dog-1"
    assert alarm.incident_id is not None
    incident = await harness.alarms.get_incident(alarm.incident_id)
    assert [e.kind for e in incident.timeline].count("camera_snapshot") == 1
    assert s.counters.vision_ignored == 1 and s.counters.vision_events == 3


async def test_discovery_configs_of_the_simulated_bridge(harness: Harness) -> None:
    """The simulator publishes discovery as Zigbee2MQTT does; every kind is recognised while pending."""
    from simulator.sensors import SensorKind, SensorSpec, discovery_configs

    kinds: tuple[SensorKind, ...] = ("door", "pir", "fence", "smoke", "water", "tamper")
    for kind in kinds:
        for topic, config in discovery_configs(SensorSpec(name=f"new_{kind}", kind=kind, x=0.0, y=0.0)):
            await harness.sensors.handle_message(topic, orjson.dumps(config))
    pending = {p.id: p.kind for p in await harness.sensors.sensors("pending")}
    assert pending == {f"new_{kind}": kind for kind in kinds}


async def test_conditions_raised_before_a_restart_clear_after_it(harness: Harness) -> None:
    from tests.alarms.harness import make_harness

    await harness.sensors.handle_message("zigbee2mqtt/door_tp_lab/availability", b"offline")
    await harness.sensors.handle_message("zigbee2mqtt/pir_tp_lawn", js(battery=5))
    restarted = await make_harness(harness.store.url, harness.clock)
    try:
        await restarted.sensors.handle_message("zigbee2mqtt/door_tp_lab/availability", b"online")
        await restarted.sensors.handle_message("zigbee2mqtt/pir_tp_lawn", js(battery=100))
        assert await restarted.alarms.count_active() == 0
        assert await restarted.sensors.expire() == 0  # offline alarms are not raised twice either
    finally:
        await restarted.close()
