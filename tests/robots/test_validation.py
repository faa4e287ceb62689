"""Service-side validation of robot messages: typed results for good input, Rejections for hostile input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robots.vda5050.state import State
from robots.vda5050.validation import Accepted, Rejection, RejectReason, validate_robot_message

TOPIC = "uagv/v2/Acme/dog-1/state"
GOOD_STATE: dict[str, Any] = {
    "headerId": 3, "timestamp": "2026-11-28T03:30:03.120Z", "version": "2.1.0", "manufacturer": "Acme",
    "serialNumber": "dog-1", "orderId": "o1", "orderUpdateId": 0, "lastNodeId": "a", "lastNodeSequenceId": 0,
    "driving": True, "operatingMode": "AUTOMATIC",
    "nodeStates": [{"nodeId": "b", "sequenceId": 2, "released": True,
                    "nodePosition": {"x": 1.0, "y": 2.0, "mapId": "park"}}],
    "edgeStates": [{"edgeId": "e1", "sequenceId": 1, "released": True}],
    "agvPosition": {"x": 0.5, "y": 1.0, "theta": 0.1, "mapId": "park", "positionInitialized": True},
    "actionStates": [{"actionId": "x", "actionType": "scanArea", "actionStatus": "WAITING"}],
    "batteryState": {"batteryCharge": 80.0, "charging": False}, "errors": [],
    "safetyState": {"eStop": "NONE", "fieldViolation": False},
}
REQUIRED = ["headerId", "timestamp", "version", "manufacturer", "serialNumber", "orderId", "orderUpdateId",
            "lastNodeId", "lastNodeSequenceId", "driving", "operatingMode", "nodeStates", "edgeStates",
            "actionStates", "batteryState", "errors", "safetyState"]

# values of the wrong JSON type for each field type (strict: "true" is not a boolean, 1.5 not an integer)
WRONG_TYPES: dict[type, list[Any]] = {
    str: [None, 7, True, [], {}, ["x"]],
    int: [None, "7", 1.5, True, [], {}],
    bool: [None, "true", 1, 0, [], {}],
    list: [None, "x", 7, {}, {"0": 1}],
    dict: [None, "x", 7, [], [{}]],
}


def _dump(d: Any) -> bytes:
    return json.dumps(d).encode()


def test_good_messages_are_accepted(validate_vda: Callable[[str, Any], None]) -> None:
    validate_vda("state", GOOD_STATE)
    r = validate_robot_message(TOPIC, _dump(GOOD_STATE))
    assert isinstance(r, Accepted) and isinstance(r.message, State)
    assert r.topic.robot.serial_number == "dog-1" and r.message.agv_position is not None
    conn = {"headerId": 0, "timestamp": "2026-11-28T03:30:03Z", "version": "2.0.0", "manufacturer": "Acme",
            "serialNumber": "dog-1", "connectionState": "CONNECTIONBROKEN"}
    assert isinstance(validate_robot_message("uagv/v2/Acme/dog-1/connection", _dump(conn)), Accepted)
    assert isinstance(validate_robot_message("uagv/v2/Acme/dog-1/visualization", b"{}"), Accepted)


def test_each_reason() -> None:
    def reason(topic: str, payload: bytes, **kw: Any) -> tuple[RejectReason, str | None]:
        r = validate_robot_message(topic, payload, **kw)
        assert isinstance(r, Rejection), r
        assert str(r)  # printable for logs
        return r.reason, r.field

    assert reason("uagv/v2/Acme/state", b"{}") == (RejectReason.BAD_TOPIC, None)
    assert reason("uagv/v2/Acme/dog-1/order", b"{}") == (RejectReason.NOT_FROM_ROBOT, None)
    assert reason(TOPIC, b"{" * 10, max_bytes=5) == (RejectReason.OVERSIZED, None)
    assert reason(TOPIC, b"{'a': 1}") == (RejectReason.MALFORMED_JSON, None)
    assert reason(TOPIC, b"[1, 2]") == (RejectReason.SCHEMA_VIOLATION, None)
    assert reason(TOPIC, _dump({**GOOD_STATE, "driving": "yes"})) == (RejectReason.SCHEMA_VIOLATION, "driving")
    assert reason(TOPIC, _dump({**GOOD_STATE, "serialNumber": "dog-2"})) == (
        RejectReason.IDENTITY_MISMATCH, "serialNumber")
    assert reason(TOPIC, _dump({**GOOD_STATE, "manufacturer": "Evil"})) == (
        RejectReason.IDENTITY_MISMATCH, "manufacturer")
    assert reason(TOPIC, _dump({**GOOD_STATE, "version": "3.0.0"})) == (RejectReason.UNSUPPORTED_VERSION, "version")
    assert reason(TOPIC, b'{"driving": NaN}') == (RejectReason.MALFORMED_JSON, None)
    assert reason(TOPIC, b"[" * 5000 + b"]" * 5000)[0] in (RejectReason.MALFORMED_JSON, RejectReason.SCHEMA_VIOLATION)
    assert reason("other/v2/Acme/dog-1/state", _dump(GOOD_STATE), interface="uagv") == (RejectReason.BAD_TOPIC, None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=30,
)
topics = st.sampled_from([TOPIC, "uagv/v2/Acme/dog-1/factsheet", "uagv/v2/Acme/dog-1/connection",
                          "uagv/v2/Acme/dog-1/visualization"]) | st.text(max_size=60)


def _hostile_state(draw: st.DrawFn) -> bytes:
    d = json.loads(json.dumps(GOOD_STATE))
    kind = draw(st.sampled_from(["drop", "retype", "identity", "version", "truncate", "garbage-prefix"]))
    if kind == "drop":
        d.pop(draw(st.sampled_from(REQUIRED)))
    elif kind == "retype":
        key = draw(st.sampled_from(REQUIRED))
        d[key] = draw(st.sampled_from(WRONG_TYPES[type(GOOD_STATE[key])]))
    elif kind == "identity":
        d[draw(st.sampled_from(["manufacturer", "serialNumber"]))] = draw(
            st.text(max_size=20).filter(lambda s: s not in ("Acme", "dog-1")))
    elif kind == "version":
        d["version"] = draw(st.text(max_size=10).filter(lambda s: not s.startswith(("2.0.", "2.1."))))
    raw = _dump(d)
    if kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif kind == "garbage-prefix":
        raw = draw(st.binary(min_size=1, max_size=20).filter(lambda b: b.strip() != b"")) + b"\x00" + raw
    return raw


hostile_states = st.composite(_hostile_state)()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=st.binary(max_size=300) | json_values.map(_dump))
def test_arbitrary_input_never_raises(topic: str, payload: bytes) -> None:
    r = validate_robot_message(topic, payload)
    assert isinstance(r, Accepted | Rejection)
    if isinstance(r, Accepted):  # only an all-optional visualization can come out of random JSON
        assert r.topic.topic.value == "visualization"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=hostile_states)
def test_hostile_state_payloads_are_rejected(payload: bytes) -> None:
    r = validate_robot_message(TOPIC, payload)
    assert isinstance(r, Rejection), payload[:200]
