"""Live fleet state, fed by the robots' VDA 5050 messages from the bus.

Hot path: `handle(topic, payload)` is synchronous and cheap (a cached topic parse, the fast
`state` decoder with pydantic as its fallback, a few comparisons). Every rejected message is
counted by reason and logged at a bounded rate; nothing raises into the bus. Changes are
announced to listeners (the live WebSocket, alarms, the dispatcher) as `RobotChange` values.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from pydantic import ValidationError

from maps import Park
from patrol.fleet.registry import RobotKind, RobotRecord, RobotRegistry
from robots.vda5050.base import is_supported_version
from robots.vda5050.state import Connection, ConnectionState, State
from robots.vda5050.state_fast import decode_state, summarize
from robots.vda5050.topics import RobotTopic, TopicError, VdaTopic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RobotLive:
    """What the service knows of one robot right now."""

    robot_id: str
    manufacturer: str
    serial_number: str
    kind: RobotKind
    online: bool = False
    connection: str = "OFFLINE"
    version: str | None = None
    x: float | None = None
    y: float | None = None
    theta: float | None = None
    map_id: str | None = None
    battery: float | None = None
    charging: bool = False
    driving: bool = False
    paused: bool = False
    e_stop: str = "NONE"
    operating_mode: str | None = None
    order_id: str = ""
    order_update_id: int = 0
    last_node_id: str = ""
    last_node_sequence_id: int = 0
    node_ids_ahead: tuple[str, ...] = ()
    order_nodes: tuple[tuple[str, int, bool], ...] = ()
    """The state's nodeStates as (nodeId, sequenceId, released), in sequence order: the robot's own view of
    its order, which the dispatcher resynchronises from after a link or broker outage."""
    action_states: tuple[tuple[str, str, str], ...] = ()  # (action id, type, status)
    action_results: tuple[tuple[str, str], ...] = ()  # (action id, resultDescription), e.g. a photo's URL
    errors: tuple[tuple[str, str, str], ...] = ()  # (type, level, description)
    last_seen: float = 0.0
    state_timestamp: str | None = None
    factsheet: dict[str, Any] | None = None
    camera_url: str | None = None  # announced in the state's information (infoType cameraStream)

    def public(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d.pop("factsheet", None)
        d.pop("order_nodes", None)  # node_ids_ahead is the public view
        d["kind"] = self.kind.value
        results = dict(d.pop("action_results"))
        d["action_states"] = [{"action_id": a, "action_type": t, "status": s, "result": results.get(a)}
                              for a, t, s in self.action_states]
        d["errors"] = [{"type": t, "level": lv, "description": ds} for t, lv, ds in self.errors]
        d["node_ids_ahead"] = list(self.node_ids_ahead)
        return d


@dataclass(frozen=True)
class RobotChange:
    before: RobotLive | None
    after: RobotLive


Listener = Callable[[RobotChange], None]


@dataclass
class PendingRobot:
    manufacturer: str
    serial_number: str
    first_seen: float
    last_seen: float
    messages: int = 0


@dataclass
class FleetState:
    registry: RobotRegistry
    park: Park
    interface: str = "uagv"
    max_payload_bytes: int = 256 * 1024
    auto_accept: bool = False
    clock: Callable[[], float] = time.time
    robots: dict[str, RobotLive] = field(default_factory=dict)
    pending: dict[tuple[str, str], PendingRobot] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    accepted_messages: int = 0
    states_by_schema: int = 0  # state messages the fast decoder left to pydantic (see robots.vda5050.state_fast)
    _listeners: list[Listener] = field(default_factory=list)
    _last_log: dict[str, float] = field(default_factory=dict)
    _topics: dict[str, RobotTopic] = field(default_factory=dict)
    auto_accept_requests: list[tuple[str, str]] = field(default_factory=list)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def seed_from_registry(self) -> None:
        for rec in self.registry.all():
            if rec.robot_id not in self.robots:
                self.robots[rec.robot_id] = self._blank(rec)

    @staticmethod
    def _blank(rec: RobotRecord) -> RobotLive:
        return RobotLive(rec.robot_id, rec.manufacturer, rec.serial_number, rec.kind)

    # -- rejections ------------------------------------------------------------------------
    def _reject(self, reason: str, topic: str, detail: str = "") -> None:
        self.rejected[reason] += 1
        now = time.monotonic()
        if now - self._last_log.get(reason, 0.0) > 5.0:  # log each reason at most every 5 s
            self._last_log[reason] = now
            log.warning("rejected message on %s: %s %s (total %d)", topic[:200], reason, detail[:300],
                        self.rejected[reason])

    # -- ingest ----------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> None:
        """Bus handler for `{interface}/v2/+/+/{state,connection,factsheet,visualization}`."""
        rt = self._topics.get(topic)
        if rt is None:
            try:
                rt = RobotTopic.parse(topic, interface=self.interface)
            except TopicError as e:
                self._reject("bad_topic", topic, str(e))
                return
            if len(self._topics) < 100_000:
                self._topics[topic] = rt
        if len(payload) > self.max_payload_bytes:
            self._reject("oversized", topic, f"{len(payload)} bytes > {self.max_payload_bytes}")
            return
        rec = self.registry.lookup(rt.robot.manufacturer, rt.robot.serial_number)
        if rec is None:
            self._note_pending(rt, topic)
            return
        if rt.topic is VdaTopic.STATE:
            self._on_state(rec, topic, payload)
        elif rt.topic is VdaTopic.CONNECTION:
            self._on_connection(rec, topic, payload)
        elif rt.topic is VdaTopic.FACTSHEET:
            self._on_factsheet(rec, topic, payload)
        elif rt.topic is VdaTopic.VISUALIZATION:
            self._on_visualization(rec, topic, payload)
        else:
            self._reject("robot_on_service_topic", topic, "robots may not publish orders/instantActions")

    def _note_pending(self, rt: RobotTopic, topic: str) -> None:
        key = (rt.robot.manufacturer, rt.robot.serial_number)
        now = self.clock()
        p = self.pending.get(key)
        if p is None:
            if len(self.pending) >= 1000:
                self._reject("unknown_robot_flood", topic)
                return
            p = self.pending[key] = PendingRobot(rt.robot.manufacturer, rt.robot.serial_number, now, now)
            if self.auto_accept:
                self.auto_accept_requests.append(key)
        p.last_seen = now
        p.messages += 1
        self._reject("unknown_robot", topic, f"{rt.robot.manufacturer}/{rt.robot.serial_number} is not registered")

    def _identity_ok(self, rec: RobotRecord, topic: str, manufacturer: str | None, serial: str | None,
                     version: str | None) -> bool:
        if manufacturer != rec.manufacturer or serial != rec.serial_number:
            self._reject("identity_mismatch", topic, f"payload says {manufacturer}/{serial}")
            return False
        if version is not None and not is_supported_version(version):
            self._reject("unsupported_version", topic, version)
            return False
        return True

    def _position_ok(self, topic: str, x: float, y: float) -> bool:
        if not (math.isfinite(x) and math.isfinite(y)) or not self.park.contains(x, y):
            self._reject("position_outside_map", topic, f"({x}, {y})")
            return False
        return True

    def _update(self, before: RobotLive, after: RobotLive) -> None:
        self.robots[after.robot_id] = after
        self.accepted_messages += 1
        change = RobotChange(before, after)
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("fleet listener failed")

    def _current(self, rec: RobotRecord) -> RobotLive:
        return self.robots.get(rec.robot_id) or self._blank(rec)

    def _on_state(self, rec: RobotRecord, topic: str, payload: bytes) -> None:
        st = decode_state(payload)  # the common, valid case without building the pydantic model
        if st is None:
            try:
                st = summarize(State.from_json(payload))  # gives the rejection its field-level reason
            except (ValidationError, ValueError) as e:
                self._reject("invalid_state", topic, _first_error(e))
                return
            self.states_by_schema += 1
        if not self._identity_ok(rec, topic, st.manufacturer, st.serial_number, st.version):
            return
        pos = st.position
        if pos is not None and not self._position_ok(topic, pos[0], pos[1]):
            return
        before = self._current(rec)
        if pos is None:
            x, y, theta, map_id = before.x, before.y, before.theta, before.map_id
        else:
            x, y, theta, map_id = pos
        self._update(before, _evolve(
            before, online=True, connection="ONLINE", version=st.version, x=x, y=y, theta=theta, map_id=map_id,
            battery=st.battery_charge, charging=st.charging, driving=st.driving, paused=st.paused,
            e_stop=st.e_stop, operating_mode=st.operating_mode, order_id=st.order_id,
            order_update_id=st.order_update_id, last_node_id=st.last_node_id,
            last_node_sequence_id=st.last_node_sequence_id, node_ids_ahead=st.node_ids_ahead,
            order_nodes=st.node_states,
            action_states=st.action_states, action_results=st.action_results, errors=st.errors,
            last_seen=self.clock(),
            state_timestamp=st.timestamp, camera_url=st.camera_url or before.camera_url,
        ))

    def _on_connection(self, rec: RobotRecord, topic: str, payload: bytes) -> None:
        if not payload:  # retained message cleared
            return
        try:
            c = Connection.from_json(payload)
        except (ValidationError, ValueError) as e:
            self._reject("invalid_connection", topic, _first_error(e))
            return
        if not self._identity_ok(rec, topic, c.manufacturer, c.serial_number, c.version):
            return
        before = self._current(rec)
        online = c.connection_state is ConnectionState.ONLINE
        self._update(before, _evolve(before, online=online, connection=c.connection_state.value,
                                     version=c.version, last_seen=self.clock()))

    def _on_factsheet(self, rec: RobotRecord, topic: str, payload: bytes) -> None:
        from robots.vda5050.factsheet import Factsheet

        try:
            fs = Factsheet.from_json(payload)
        except (ValidationError, ValueError) as e:
            self._reject("invalid_factsheet", topic, _first_error(e))
            return
        if not self._identity_ok(rec, topic, fs.manufacturer, fs.serial_number, fs.version):
            return
        before = self._current(rec)
        self._update(before, replace(before, factsheet=fs.to_dict()))

    def _on_visualization(self, rec: RobotRecord, topic: str, payload: bytes) -> None:
        from robots.vda5050.state import Visualization

        try:
            v = Visualization.from_json(payload)
        except (ValidationError, ValueError) as e:
            self._reject("invalid_visualization", topic, _first_error(e))
            return
        has_header = v.manufacturer is not None or v.serial_number is not None
        if has_header and not self._identity_ok(rec, topic, v.manufacturer, v.serial_number, v.version):
            return
        pos = v.agv_position
        if pos is None or not self._position_ok(topic, pos.x, pos.y):
            return
        before = self._current(rec)
        self._update(before, _evolve(before, x=pos.x, y=pos.y, theta=pos.theta, map_id=pos.map_id,
                                     last_seen=self.clock()))

    # -- liveness --------------------------------------------------------------------------
    def expire(self, offline_after_s: float) -> list[str]:
        """Mark robots silent for longer than `offline_after_s` offline; returns their ids."""
        now = self.clock()
        gone = []
        for rid, r in list(self.robots.items()):
            if r.online and now - r.last_seen > offline_after_s:
                self._update(r, replace(r, online=False, connection="TIMEOUT", driving=False))
                gone.append(rid)
        return gone

    def snapshot(self) -> list[dict[str, Any]]:
        return [r.public() for r in sorted(self.robots.values(), key=lambda r: r.robot_id)]

    def stats(self) -> dict[str, Any]:
        return {"accepted": self.accepted_messages, "rejected": dict(self.rejected),
                "pending": len(self.pending), "states_by_schema": self.states_by_schema,
                "online": sum(1 for r in self.robots.values() if r.online)}


_FIELDS = frozenset(f.name for f in fields(RobotLive))
_new_object = object.__new__
_set_attribute = object.__setattr__


def _evolve(before: RobotLive, **changes: Any) -> RobotLive:
    """`dataclasses.replace(before, **changes)` for the ingest hot path, without its per-field cost.

    A frozen dataclass's `__init__` sets every one of RobotLive's ~30 fields through
    `object.__setattr__`; that was ~15 us per state message, more than the schema validation. Here
    the new value gets a copy of `before`'s field dict with the changes applied: the same object
    `replace` would build (RobotLive has no `__post_init__` or derived fields), still frozen.
    Unknown field names raise TypeError as `replace` does.
    """
    unknown = changes.keys() - _FIELDS
    if unknown:
        raise TypeError(f"RobotLive has no field(s) {sorted(unknown)}")
    values = before.__dict__.copy()
    values.update(changes)
    after = _new_object(RobotLive)
    _set_attribute(after, "__dict__", values)
    return after


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        errs = e.errors()
        if errs:
            first = errs[0]
            return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']} ({len(errs)} errors)"
    return str(e)[:200]
