"""The fast `state` decoder against the pydantic model (the schema of record).

Contract: `decode_state` either returns None (pydantic decides) or returns exactly the summary
of what pydantic validates from the same bytes. It must never accept what pydantic rejects, and
it must take the common valid shapes itself (else the hot path gains nothing).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from robots.vda5050 import state_fast
from robots.vda5050.state import State
from robots.vda5050.state_fast import StateSummary, decode_state, summarize

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def full_state() -> dict[str, Any]:
    """A valid 2.1 state using every part the fast decoder reads or checks itself."""
    return {
        "headerId": 7, "timestamp": "2026-11-29T04:00:00.120Z", "version": "2.1.0", "manufacturer": "acme",
        "serialNumber": "dog-1", "orderId": "o-1", "orderUpdateId": 2, "lastNodeId": "n1", "lastNodeSequenceId": 0,
        "driving": True, "paused": False, "newBaseRequest": True, "distanceSinceLastNode": 3,
        "operatingMode": "AUTOMATIC", "zoneSetId": "z",
        "nodeStates": [
            {"nodeId": "n3", "sequenceId": 4, "released": False, "nodePosition": {"x": 1, "y": 2.5, "mapId": "park"}},
            {"nodeId": "n2", "sequenceId": 2, "released": True, "nodeDescription": "gate",
             "nodePosition": {"x": 1.0, "y": 2.0, "mapId": "park", "theta": 0.1}},
        ],
        "edgeStates": [{"edgeId": "e1", "sequenceId": 1, "released": True, "edgeDescription": "road"}],
        "actionStates": [{"actionId": "a1", "actionType": "capturePhoto", "actionStatus": "RUNNING"},
                         {"actionId": "a2", "actionStatus": "FINISHED", "resultDescription": "ok",
                          "actionDescription": "d"}],
        "batteryState": {"batteryCharge": 55, "charging": False, "batteryVoltage": 48.1, "batteryHealth": 100,
                         "reach": 0},
        "errors": [{"errorType": "lowBattery", "errorLevel": "WARNING", "errorDescription": "low",
                    "errorHint": "dock", "errorReferences": [{"referenceKey": "k", "referenceValue": "v"}]}],
        "information": [{"infoType": "note", "infoLevel": "DEBUG"},
                        {"infoType": "cameraStream", "infoLevel": "INFO", "infoDescription": "rtsp://cam/1",
                         "infoReferences": [{"referenceKey": "k", "referenceValue": "v"}]}],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
        "maps": [{"mapId": "park", "mapVersion": "1", "mapStatus": "ENABLED", "mapDescription": "m"}],
        "agvPosition": {"x": 10.5, "y": -3, "theta": 0.5, "mapId": "park", "positionInitialized": True,
                        "localizationScore": 1, "deviationRange": 0.2, "mapDescription": "m"},
        "velocity": {"vx": 0.5, "vy": 0, "omega": None},
        "loads": [],
    }


def minimal_state() -> dict[str, Any]:
    d = full_state()
    for key in ("paused", "newBaseRequest", "distanceSinceLastNode", "zoneSetId", "information", "maps",
                "agvPosition", "velocity", "loads"):
        del d[key]
    d.update(nodeStates=[], edgeStates=[], actionStates=[], errors=[])
    return d


def pydantic_summary(payload: bytes) -> StateSummary | None:
    try:
        return summarize(State.from_json(payload))
    except ValidationError:
        return None


def check_agrees(payload: bytes) -> StateSummary | None:
    """The contract for one payload; returns the fast result."""
    fast = decode_state(payload)
    if fast is not None:
        slow = pydantic_summary(payload)
        assert slow is not None, f"fast decoder accepted what pydantic rejects: {payload[:300]!r}"
        assert fast == slow
        for a, b in zip(fast, slow, strict=True):  # same types too (77 and 77.0 compare equal)
            assert type(a) is type(b)
    return fast


@pytest.mark.parametrize("make", [full_state, minimal_state])
def test_common_valid_states_take_the_fast_path_with_pydantics_values(make: Any) -> None:
    payload = json.dumps(make()).encode()
    fast = check_agrees(payload)
    assert fast is not None
    if make is full_state:
        assert fast.node_ids_ahead == ("n2", "n3")  # by sequence id
        assert fast.node_states == (("n2", 2, True), ("n3", 4, False))  # n3 is horizon
        assert fast.camera_url == "rtsp://cam/1"
        assert fast.action_states == (("a1", "capturePhoto", "RUNNING"), ("a2", "", "FINISHED"))
        assert fast.position == (10.5, -3.0, 0.5, "park") and type(fast.position[1]) is float
        assert fast.timestamp == "2026-11-29T04:00:00.120000+00:00"


@pytest.mark.parametrize("ts", ["2026-11-29T04:00:00Z", "2026-11-29T04:00:00.000001Z", "2026-11-29T04:00:00.5+05:30",
                                "2026-11-29T04:00:00-00:00", "2024-02-29T23:59:59.999999Z"])
def test_timestamps_in_the_common_form_match(ts: str) -> None:
    d = minimal_state()
    d["timestamp"] = ts
    assert check_agrees(json.dumps(d).encode()) is not None


@pytest.mark.parametrize("change", [
    lambda d: d.update(timestamp="2026-02-29T04:00:00Z"),        # no such day
    lambda d: d.update(timestamp="0001-01-01T00:00:00+01:00"),   # before year 1 in UTC
    lambda d: d.update(timestamp="2026-11-29T04:00:00"),         # no zone: pydantic reads it as UTC
    lambda d: d.update(timestamp="2026-11-29 04:00:00Z"),
    lambda d: d.update(timestamp="2026-11-29T04:00:00.1234567Z"),
    lambda d: d.update(timestamp="\u0662026-11-29T04:00:00Z"),  # a non-ASCII digit
    lambda d: d.update(headerId=1.0),
    lambda d: d.update(headerId=True),
    lambda d: d.update(headerId=2**70),
    lambda d: d.update(driving=1),
    lambda d: d.update(operatingMode="automatic"),
    lambda d: d.pop("safetyState"),
    lambda d: d.update(serial_number="dog-1"),                   # snake_case: pydantic also reads these
    lambda d: d.update(agvPosition={"x": 1, "y": 2, "theta": 0, "mapId": "m", "positionInitialized": True,
                                    "localizationScore": 1.5}),
    lambda d: d["batteryState"].update(batteryHealth=100.5),
    lambda d: d["batteryState"].update(reach=-1),
    lambda d: d["batteryState"].update(battery_charge=5),
    lambda d: d.update(edgeStates=[{"edgeId": "e", "sequenceId": 1, "released": True,
                                    "trajectory": {"degree": 1, "knotVector": [0, 1], "controlPoints": []}}]),
    lambda d: d.update(loads=[{"loadId": "x"}]),
    lambda d: d.update(extra=[[[[1]]]]),
    lambda d: d.update(errors=[{"errorType": "x", "errorLevel": "ERROR"}]),
    lambda d: d.update(actionStates=[{"actionId": "a", "actionStatus": "DONE"}]),
])
def test_unusual_or_invalid_payloads_go_to_pydantic(change: Any) -> None:
    d = full_state()
    change(d)
    assert decode_state(json.dumps(d, ensure_ascii=False).encode()) is None


def test_handing_a_payload_to_pydantic_keeps_nothing_of_it_alive() -> None:
    """The decoder's shared "unsure" exception must not collect the frames of every raise (a leak of
    every such message, found by the 500-robot scale run)."""
    d = full_state()
    d.update(loads=[{"loadId": "x"}])
    payload = json.dumps(d).encode()
    for _ in range(3):
        assert decode_state(payload) is None
    assert state_fast._UNSURE.__traceback__ is None and state_fast._UNSURE.__context__ is None


def test_non_json_and_non_objects_go_to_pydantic() -> None:
    for payload in (b"", b"{", b"[]", b"null", b'{"headerId": NaN}', b"\xff\xfe", b'"\\ud800"',
                    b'{"batteryState": {"batteryCharge": 1e400}}'):
        assert decode_state(payload) is None


JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
               | st.sampled_from(["AUTOMATIC", "NONE", "WARNING", "INFO", "RUNNING", "ENABLED", "cameraStream",
                                  "http://x", "2026-11-29T04:00:00Z", "2026-11-29T04:00:00.5+01:00"]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                        max_size=3), max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid state with one to three changes anywhere in it: replaced, removed, added or renamed keys."""
    d = copy.deepcopy(draw(st.sampled_from([full_state(), minimal_state()])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(d)))
        parent: Any = d
        for p in path[:-1]:
            parent = parent[p]
        key = path[-1]
        kind = draw(st.sampled_from(["replace", "replace", "remove", "add", "number"]))
        if kind == "replace":
            parent[key] = draw(JSON_VALUES)
        elif kind == "number":
            parent[key] = draw(st.sampled_from([0, -1, 1.5, -0.0, 100, 100.0000001, 2**63, 1e308, math.pi]))
        elif kind == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "extra", "node_id", "map_id", str(key)[:3], "timestamp"]))] = \
                draw(JSON_VALUES)
    return json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")


@FUZZ
@given(mutated())
def test_fast_decoder_never_accepts_what_pydantic_rejects(payload: bytes) -> None:
    check_agrees(payload)


def test_a_timestamp_outside_utc_years_is_a_validation_error() -> None:
    """It used to escape pydantic as OverflowError, past the fleet's `except ValidationError`."""
    d = minimal_state()
    d["timestamp"] = "0001-01-01T00:00:00+01:00"
    with pytest.raises(ValidationError, match="outside years 1-9999"):
        State.from_json(json.dumps(d).encode())
