"""Arbitrary topics and payloads never make ingest raise; every message is counted."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alarms.harness import Harness

TOPICS = st.one_of(
    st.sampled_from(["zigbee2mqtt/door_tp_lab", "zigbee2mqtt/pir_tp_lawn/availability", "zigbee2mqtt/bridge/log",
                     "parkpatrol/vision/events", "parkpatrol/cameras/cam_test/status",
                     "homeassistant/binary_sensor/0x1/contact/config", "zigbee2mqtt/", "homeassistant/x"]),
    st.text(max_size=40).map(lambda t: "zigbee2mqtt/" + t),
    st.text(max_size=40).map(lambda t: "homeassistant/" + t),
    st.text(max_size=40),
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["contact", "occupancy", "smoke", "water_leak", "vibration", "tamper", "battery",
                          "temperature", "humidity", "linkquality", "battery_low", "action", "state", "type",
                          "after", "before", "status", "state_topic", "device_class", "expire_after"])
OBJECTS = st.dictionaries(FIELDS, JSON_VALUES, max_size=8).map(orjson.dumps)
PAYLOADS = st.one_of(st.binary(max_size=64), OBJECTS, JSON_VALUES.map(orjson.dumps),
                     st.sampled_from([b"online", b"offline", b""]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(TOPICS, PAYLOADS), min_size=1, max_size=8))
async def test_ingest_never_raises(harness: Harness, messages: list[tuple[str, bytes]]) -> None:
    before = harness.sensors.counters.messages
    for topic, payload in messages:
        await harness.sensors.handle_message(topic, payload)
    assert harness.sensors.counters.messages == before + len(messages)
    assert harness.sensors.counters.errors == 0
