"""A fast decoder for VDA 5050 `state` messages, for the master control's ingest hot path.

The pydantic `State` model stays the schema of record. `decode_state(payload)` checks a payload
against exactly the same rules (JSON types as strict pydantic reads them, required fields, number
ranges, enum values, timestamps) in plain Python over `orjson.loads`. It is not faster than
pydantic-core's validation itself; it saves building the nested models and reading them back
(about 11 against 15.5 us CPU for the bench's state message; `parkpatrol bench ingest` prints
the fleet's whole per-message cost). It never rejects anything itself: for a payload it is not sure
about (malformed JSON, a wrong type, a missing field, a key the model does not name in camelCase,
a trajectory or loads, an unusual timestamp form) it returns None and the caller validates with
`State.from_json`, which gives the error message. So a payload it accepts is one pydantic
accepts, with the same values; tests/robots/test_state_fast.py checks that on generated payloads.

Both paths end in a `StateSummary`: the part of a state a master control keeps per robot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from robots.vda5050.base import VdaModel
from robots.vda5050.state import (
    ActionState,
    ActionStatus,
    AgvPosition,
    BatteryState,
    EdgeState,
    Error,
    ErrorLevel,
    ErrorReference,
    EStop,
    InfoLevel,
    InfoReference,
    Information,
    MapInfo,
    MapStatus,
    NodeState,
    OperatingMode,
    SafetyState,
    State,
    StateNodePosition,
    Velocity,
)


class StateSummary(NamedTuple):
    """What the fleet state keeps of one `state` message (enum members as their wire values)."""

    version: str
    manufacturer: str
    serial_number: str
    timestamp: str  # ISO 8601 in UTC as `datetime.isoformat` writes it
    position: tuple[float, float, float, str] | None  # x, y, theta, mapId
    battery_charge: float
    charging: bool
    driving: bool
    paused: bool
    e_stop: str
    operating_mode: str
    order_id: str
    order_update_id: int
    last_node_id: str
    last_node_sequence_id: int
    node_ids_ahead: tuple[str, ...]  # in sequence order
    node_states: tuple[tuple[str, int, bool], ...]  # (nodeId, sequenceId, released) in sequence order
    action_states: tuple[tuple[str, str, str], ...]  # (actionId, actionType or "", actionStatus)
    errors: tuple[tuple[str, str, str], ...]  # (errorType, errorLevel, errorDescription or "")
    camera_url: str | None  # from information of infoType cameraStream
    action_results: tuple[tuple[str, str], ...] = ()
    """(actionId, resultDescription) of the actions that report a result (e.g. a photo's URL)."""


RESULT_MAX = 500


CAMERA_SCHEMES = ("http://", "https://", "rtsp://")


def camera_url(infos: Iterable[tuple[str, str | None]]) -> str | None:
    """The first `cameraStream` information's URL (http, https or rtsp; at most 500 characters)."""
    for info_type, url in infos:
        if info_type == "cameraStream" and url and url.startswith(CAMERA_SCHEMES):
            return url[:500]
    return None


def summarize(st: State) -> StateSummary:
    """The summary of a state validated by pydantic (the fallback path).

    Hot when the fast decoder defers: enum members are read through `_value_` (the `value` property
    costs more in 3.11) and empty lists skip building generators.
    """
    pos = st.agv_position
    battery = st.battery_state
    nodes, actions, errors, infos = st.node_states, st.action_states, st.errors, st.information
    ordered = tuple((n.node_id, n.sequence_id, n.released)
                    for n in sorted(nodes, key=lambda n: n.sequence_id)) if nodes else ()
    return StateSummary(
        st.version, st.manufacturer, st.serial_number, st.timestamp.isoformat(),
        (pos.x, pos.y, pos.theta, pos.map_id) if pos is not None else None,
        battery.battery_charge, battery.charging, st.driving, bool(st.paused),
        st.safety_state.e_stop._value_, st.operating_mode._value_, st.order_id, st.order_update_id,
        st.last_node_id, st.last_node_sequence_id,
        tuple(n[0] for n in ordered), ordered,
        tuple((a.action_id, a.action_type or "", a.action_status._value_) for a in actions) if actions else (),
        tuple((e.error_type, e.error_level._value_, e.error_description or "") for e in errors) if errors else (),
        camera_url((i.info_type, i.info_description) for i in infos) if infos else None,
        tuple((a.action_id, a.result_description[:RESULT_MAX]) for a in actions if a.result_description)
        if actions else (),
    )


class _Unsure(Exception):
    """This payload is for pydantic to judge."""


_UNSURE = _Unsure()

# Each object may hold only its model's camelCase keys. Anything else (a snake_case name, which
# pydantic also takes; an unknown key, whose value pydantic's parser may refuse for nesting depth)
# goes to pydantic. The key sets come from the models, so they follow the schema of record.
def _keys(model: type[VdaModel]) -> frozenset[str]:
    return frozenset(f.alias or name for name, f in model.model_fields.items())


_STATE = _keys(State)
_NODE = _keys(NodeState)
_NODE_POSITION = _keys(StateNodePosition)
_EDGE = _keys(EdgeState)
_ACTION = _keys(ActionState)
_BATTERY = _keys(BatteryState)
_ERROR = _keys(Error)
_INFO = _keys(Information)
_REFERENCE = _keys(ErrorReference) | _keys(InfoReference)
_SAFETY = _keys(SafetyState)
_MAP = _keys(MapInfo)
_POSITION = _keys(AgvPosition)
_VELOCITY = _keys(Velocity)

_ACTION_STATUS = frozenset(m.value for m in ActionStatus)
_E_STOP = frozenset(m.value for m in EStop)
_ERROR_LEVEL = frozenset(m.value for m in ErrorLevel)
_INFO_LEVEL = frozenset(m.value for m in InfoLevel)
_MAP_STATUS = frozenset(m.value for m in MapStatus)
_OPERATING_MODE = frozenset(m.value for m in OperatingMode)

# The common timestamp form only (ASCII digits; `T`; 1-6 fraction digits; `Z` or an offset). pydantic
# reads more forms (a space for `T`, no zone, unix seconds, ...): those go to it.
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
                        r"(?:Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII)
_by_sequence = itemgetter(1)


def _obj(v: Any, keys: frozenset[str]) -> dict[str, Any]:
    if type(v) is not dict or not v.keys() <= keys:
        raise _UNSURE
    return v


def _str(v: Any) -> str:
    if type(v) is not str:
        raise _UNSURE
    return v


def _opt_str(v: Any) -> str | None:
    if v is not None and type(v) is not str:
        raise _UNSURE
    return v


def _int(v: Any) -> int:
    if type(v) is not int:  # orjson gives bool for true/false and float for 1.0: both not ints to pydantic
        raise _UNSURE
    return v


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _UNSURE
    return v


def _opt_bool(v: Any) -> bool | None:
    if v is not None and type(v) is not bool:
        raise _UNSURE
    return v


def _float(v: Any) -> float:
    if type(v) is float:
        if not math.isfinite(v):
            raise _UNSURE
        return v
    if type(v) is int:  # strict pydantic takes a JSON integer for a float field
        return float(v)
    raise _UNSURE


def _opt_float(v: Any, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    if v is None:
        return None
    f = _float(v)
    if not lo <= f <= hi:
        raise _UNSURE
    return f


def _enum(v: Any, values: frozenset[str]) -> str:
    if type(v) is not str or v not in values:
        raise _UNSURE
    return v


def _list(v: Any) -> list[Any]:
    if type(v) is not list:
        raise _UNSURE
    return v


def _opt_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return _list(v)


def _timestamp(v: Any) -> str:
    if type(v) is not str or _TIMESTAMP.fullmatch(v) is None:
        raise _UNSURE
    try:
        dt = datetime.fromisoformat(v)
        if v[-1] == "Z":  # already UTC: `isoformat`'s text without converting (the pattern fixed the rest)
            us = dt.microsecond
            return f"{v[:19]}.{us:06d}+00:00" if us else f"{v[:19]}+00:00"
        return dt.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        raise _UNSURE from None


def _references(v: Any) -> None:
    for r in _opt_list(v):
        r = _obj(r, _REFERENCE)
        _str(r["referenceKey"])
        _str(r["referenceValue"])


def _node_states(v: Any) -> tuple[tuple[str, int, bool], ...]:
    """(nodeId, sequenceId, released) of each node state, in sequence order."""
    nodes = _list(v)
    if not nodes:
        return ()
    found = []
    for n in nodes:
        n = _obj(n, _NODE)
        node_id = _str(n["nodeId"])
        sequence_id = _int(n["sequenceId"])
        released = _bool(n["released"])
        _opt_str(n.get("nodeDescription"))
        p = n.get("nodePosition")
        if p is not None:
            p = _obj(p, _NODE_POSITION)
            _float(p["x"])
            _float(p["y"])
            _str(p["mapId"])
            _opt_float(p.get("theta"))
        found.append((node_id, sequence_id, released))
    return tuple(sorted(found, key=_by_sequence))


def _check_edges(v: Any) -> None:
    for e in _list(v):
        e = _obj(e, _EDGE)
        _str(e["edgeId"])
        _int(e["sequenceId"])
        _bool(e["released"])
        _opt_str(e.get("edgeDescription"))
        if e.get("trajectory") is not None:
            raise _UNSURE  # NURBS trajectories are rare in states: pydantic checks them
    return None


def _action_states(v: Any) -> tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, str], ...]]:
    """(actionId, actionType, actionStatus) of every action; (actionId, resultDescription) where one is given."""
    out = []
    results = []
    for a in _list(v):
        a = _obj(a, _ACTION)
        action_id = _str(a["actionId"])
        status = _enum(a["actionStatus"], _ACTION_STATUS)
        action_type = _opt_str(a.get("actionType"))
        _opt_str(a.get("actionDescription"))
        result = _opt_str(a.get("resultDescription"))
        out.append((action_id, action_type or "", status))
        if result:
            results.append((action_id, result[:RESULT_MAX]))
    return tuple(out), tuple(results)


def _errors(v: Any) -> tuple[tuple[str, str, str], ...]:
    out = []
    for e in _list(v):
        e = _obj(e, _ERROR)
        error_type = _str(e["errorType"])
        level = _enum(e["errorLevel"], _ERROR_LEVEL)
        _references(e.get("errorReferences"))
        description = _opt_str(e.get("errorDescription"))
        _opt_str(e.get("errorHint"))
        out.append((error_type, level, description or ""))
    return tuple(out)


def _camera_from_information(v: Any) -> str | None:
    infos = []
    for i in _opt_list(v):
        i = _obj(i, _INFO)
        info_type = _str(i["infoType"])
        _enum(i["infoLevel"], _INFO_LEVEL)
        _references(i.get("infoReferences"))
        infos.append((info_type, _opt_str(i.get("infoDescription"))))
    return camera_url(infos)


def _position(v: Any) -> tuple[float, float, float, str] | None:
    if v is None:
        return None
    p = _obj(v, _POSITION)
    x, y, theta, map_id = _float(p["x"]), _float(p["y"]), _float(p["theta"]), _str(p["mapId"])
    _bool(p["positionInitialized"])
    _opt_str(p.get("mapDescription"))
    _opt_float(p.get("localizationScore"), 0.0, 1.0)
    _opt_float(p.get("deviationRange"))
    return x, y, theta, map_id


def _check_rest(d: dict[str, Any]) -> None:
    """The optional fields the summary does not keep: checked all the same."""
    for m in _opt_list(d.get("maps")):
        m = _obj(m, _MAP)
        _str(m["mapId"])
        _str(m["mapVersion"])
        _enum(m["mapStatus"], _MAP_STATUS)
        _opt_str(m.get("mapDescription"))
    _opt_str(d.get("zoneSetId"))
    _opt_bool(d.get("newBaseRequest"))
    _opt_float(d.get("distanceSinceLastNode"))
    velocity = d.get("velocity")
    if velocity is not None:
        velocity = _obj(velocity, _VELOCITY)
        _opt_float(velocity.get("vx"))
        _opt_float(velocity.get("vy"))
        _opt_float(velocity.get("omega"))
    if _opt_list(d.get("loads")):
        raise _UNSURE  # loads carry nested boxes and dimensions: pydantic checks them


def decode_state(payload: bytes | str) -> StateSummary | None:
    """The summary of a valid `state` payload, or None: then validate with `State.from_json`."""
    try:
        d = _obj(orjson.loads(payload), _STATE)
        _int(d["headerId"])
        timestamp = _timestamp(d["timestamp"])
        battery = _obj(d["batteryState"], _BATTERY)
        battery_charge, charging = _float(battery["batteryCharge"]), _bool(battery["charging"])
        _opt_float(battery.get("batteryVoltage"))
        _opt_float(battery.get("batteryHealth"), 0.0, 100.0)
        _opt_float(battery.get("reach"), 0.0)
        safety = _obj(d["safetyState"], _SAFETY)
        e_stop = _enum(safety["eStop"], _E_STOP)
        _bool(safety["fieldViolation"])
        _check_edges(d["edgeStates"])
        _check_rest(d)
        nodes = _node_states(d["nodeStates"])
        actions, results = _action_states(d["actionStates"])
        return StateSummary(
            _str(d["version"]), _str(d["manufacturer"]), _str(d["serialNumber"]), timestamp,
            _position(d.get("agvPosition")), battery_charge, charging, _bool(d["driving"]),
            bool(_opt_bool(d.get("paused"))), e_stop, _enum(d["operatingMode"], _OPERATING_MODE),
            _str(d["orderId"]), _int(d["orderUpdateId"]), _str(d["lastNodeId"]), _int(d["lastNodeSequenceId"]),
            tuple(n[0] for n in nodes), nodes, actions, _errors(d["errors"]),
            _camera_from_information(d.get("information")), results,
        )
    except _Unsure:
        # One shared instance (a raise allocates nothing), but every raise links its frames onto the
        # instance's traceback: cleared here, or it would keep every unsure message's frames (and
        # everything they reference) alive. Seen as ~3 KB per message in the 500-robot scale run.
        _UNSURE.__traceback__ = _UNSURE.__context__ = _UNSURE.__cause__ = None
        return None
    except (KeyError, orjson.JSONDecodeError):
        return None
