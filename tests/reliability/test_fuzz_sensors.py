"""Hostile input on the sensor / vision / camera-health ingest (`SensorService.handle_message`):
NaN/inf literals, huge and deeply nested payloads, unicode device names, Frigate-shaped events
with wrong types or impossible positions. Nothing raises, no internal error is counted, a placed
sensor's state is not changed by messages for other devices. Complements tests/sensors/test_fuzz.py.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol.alarms.model import AlarmType, camera_source, sensor_source
from robots.clock import SimClock
from tests.alarms.harness import ARMED_NIGHT, Harness, create_schema, make_harness
from tests.reliability.helpers import dumps

pytestmark = pytest.mark.reliability

GOOD_SENSOR = "door_tp_lab"
JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c,
                                                                                          max_size=4), max_leaves=20)
Z2M_FIELDS = ["contact", "occupancy", "smoke", "water_leak", "vibration", "tamper", "battery", "temperature",
              "humidity", "action", "state"]
TIMES = st.sampled_from([-1e300, 0.0, 1e18, math.nan, math.inf, "yesterday", None, -1])


def _vision_event(draw: st.DrawFn) -> dict[str, Any]:
    after: dict[str, Any] = {"id": draw(st.text(min_size=1, max_size=12)), "camera": "cam_test", "label": "person",
                             "rules": ["restricted"], "score": 0.9}
    change = draw(st.sampled_from(["position", "score", "times", "types", "camera", "box"]))
    if change == "position":
        after["position"] = {"x": draw(st.floats(allow_nan=True, allow_infinity=True)),
                             "y": draw(st.floats(allow_nan=True, allow_infinity=True))}
    elif change == "score":
        after["score"] = draw(st.floats(allow_nan=True, allow_infinity=True) | JSON_VALUES)
    elif change == "times":
        after["start_time"], after["end_time"] = draw(TIMES), draw(TIMES)
    elif change == "types":
        after[draw(st.sampled_from(list(after)))] = draw(JSON_VALUES)
    elif change == "camera":
        after["camera"] = draw(st.text(max_size=80))
    else:
        after["box"] = draw(JSON_VALUES)
    return {"type": draw(st.sampled_from(["new", "update", "end", "bogus", None])), "after": after}


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(st.sampled_from(["pir_tp_lawn", "fence_tp_1", "ghost", "\u202e\U0001f6aa", "a" * 300]))
    kind = draw(st.sampled_from(["z2m", "availability", "vision", "camera", "discovery", "raw", "deep", "huge"]))
    if kind == "z2m":
        payload = dumps({f: draw(JSON_VALUES) for f in draw(st.lists(st.sampled_from(Z2M_FIELDS), max_size=5))})
        return f"zigbee2mqtt/{target}", payload
    if kind == "availability":
        return f"zigbee2mqtt/{target}/availability", draw(st.sampled_from([b"online", b"offline", b"{}", b"NaN"])
                                                          | JSON_VALUES.map(dumps))
    if kind == "vision":
        return "parkpatrol/vision/events", dumps(_vision_event(draw))
    if kind == "camera":
        return f"parkpatrol/cameras/{draw(st.sampled_from(['cam_test', target]))}/status", draw(JSON_VALUES.map(dumps))
    if kind == "discovery":
        return f"homeassistant/binary_sensor/{target}/contact/config", draw(JSON_VALUES.map(dumps))
    if kind == "raw":
        return draw(st.sampled_from(["zigbee2mqtt/", f"zigbee2mqtt/{target}", "parkpatrol/vision/events"])), \
            draw(st.binary(max_size=512))
    if kind == "deep":
        depth = draw(st.integers(min_value=100, max_value=20_000))
        return f"zigbee2mqtt/{target}", b'{"contact":' * depth + b"true" + b"}" * depth
    return f"zigbee2mqtt/{target}", b'{"occupancy": true, "pad": "' + b"A" * 300_000 + b'"}'


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    await create_schema(database_url)
    h = await make_harness(database_url, SimClock(ARMED_NIGHT))
    try:
        yield h
    finally:
        await h.close()


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=st.lists(hostile(), min_size=1, max_size=4))
async def test_sensor_and_vision_ingest_fuzz(harness: Harness, messages: list[tuple[str, bytes]]) -> None:
    sensors = harness.sensors
    good_before = await harness.alarms.active_alarm(sensor_source(GOOD_SENSOR), AlarmType.INTRUSION)
    before = sensors.counters.messages
    for topic, payload in messages:
        await sensors.handle_message(topic, payload)
    assert sensors.counters.messages == before + len(messages)
    assert sensors.counters.errors == 0, "an ingest error (a bug, not bad input) was counted"
    assert await harness.alarms.active_alarm(sensor_source(GOOD_SENSOR), AlarmType.INTRUSION) == good_before


async def test_oversized_sensor_payload_is_refused(harness: Harness) -> None:
    before = harness.sensors.counters.malformed
    await harness.sensors.handle_message("zigbee2mqtt/pir_tp_lawn", b'{"battery": 50, "pad": "' + b"A" * 2_000_000
                                         + b'"}')
    assert harness.sensors.counters.malformed == before + 1


async def test_vision_event_outside_the_map_raises_no_alarm_there(harness: Harness) -> None:
    event = {"type": "new", "after": {"id": "evt-far", "camera": "cam_test", "label": "person",
                                      "rules": ["restricted"], "score": 0.95, "position": {"x": 1e9, "y": -1e9}}}
    await harness.sensors.handle_message("parkpatrol/vision/events", dumps(event))
    alarm = await harness.alarms.active_alarm(camera_source("cam_test"), AlarmType.VISION)
    assert alarm is None or (alarm.x is not None and alarm.y is not None and harness.park.contains(alarm.x, alarm.y))


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=st.lists(hostile(), min_size=1, max_size=4))
async def test_sensor_and_vision_ingest_fuzz_long(harness: Harness, messages: list[tuple[str, bytes]]) -> None:
    for topic, payload in messages:
        await harness.sensors.handle_message(topic, payload)
    assert harness.sensors.counters.errors == 0
