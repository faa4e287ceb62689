"""Service-side checks of what robots publish: topic + payload -> typed message, or a `Rejection`.

Pure and total: any bytes on any topic give either `Accepted` or `Rejection(reason, field, detail)`,
never an exception. The service counts rejections by `reason`; unknown robots and positions outside
the map are the service's own checks on top of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from pydantic import ValidationError

from robots.vda5050.base import is_supported_version
from robots.vda5050.factsheet import Factsheet
from robots.vda5050.state import Connection, State, Visualization
from robots.vda5050.topics import RobotTopic, TopicError, VdaTopic

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024

RobotMessage = State | Connection | Factsheet | Visualization

_MODELS: dict[VdaTopic, type[State] | type[Connection] | type[Factsheet] | type[Visualization]] = {
    VdaTopic.STATE: State,
    VdaTopic.CONNECTION: Connection,
    VdaTopic.FACTSHEET: Factsheet,
    VdaTopic.VISUALIZATION: Visualization,
}


class RejectReason(StrEnum):
    BAD_TOPIC = "bad_topic"
    NOT_FROM_ROBOT = "not_from_robot"  # a robot-side parse was asked for an order/instantActions topic
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    IDENTITY_MISMATCH = "identity_mismatch"
    UNSUPPORTED_VERSION = "unsupported_version"


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    field: str | None
    detail: str
    topic: str

    def __str__(self) -> str:
        where = f" at {self.field}" if self.field else ""
        return f"{self.reason.value}{where} on {self.topic[:200]}: {self.detail[:300]}"


@dataclass(frozen=True)
class Accepted:
    topic: RobotTopic
    message: RobotMessage


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(root)"


def parse_robot_topic(topic: str, *, interface: str | None = None) -> RobotTopic | Rejection:
    try:
        rt = RobotTopic.parse(topic, interface=interface)
    except TopicError as e:
        return Rejection(RejectReason.BAD_TOPIC, None, str(e), topic)
    if not rt.topic.from_robot:
        return Rejection(RejectReason.NOT_FROM_ROBOT, None,
                         f"{rt.topic.value} is sent to robots, not by them", topic)
    return rt


def validate_robot_message(topic: str, payload: bytes | bytearray | str, *, interface: str | None = None,
                           max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Accepted | Rejection:
    """Check one message a robot published on `topic` (state, connection, factsheet or visualization)."""
    try:
        return _validate(topic, payload, interface, max_bytes)
    except Exception as e:  # totality: whatever slipped through still becomes a counted rejection
        return Rejection(RejectReason.SCHEMA_VIOLATION, None, f"{type(e).__name__}: {e}", str(topic))


def _validate(topic: str, payload: bytes | bytearray | str, interface: str | None,
              max_bytes: int) -> Accepted | Rejection:
    rt = parse_robot_topic(topic, interface=interface)
    if isinstance(rt, Rejection):
        return rt
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    if len(data) > max_bytes:
        return Rejection(RejectReason.OVERSIZED, None, f"{len(data)} bytes > limit {max_bytes}", topic)
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        return Rejection(RejectReason.MALFORMED_JSON, None, str(e), topic)
    if not isinstance(obj, dict):
        return Rejection(RejectReason.SCHEMA_VIOLATION, None, f"payload is a JSON {type(obj).__name__}, "
                         "expected an object", topic)
    try:
        msg = _MODELS[rt.topic].model_validate_json(data, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        return Rejection(RejectReason.SCHEMA_VIOLATION, _loc(first), str(first.get("msg", "invalid")), topic)
    if msg.version is not None and not is_supported_version(msg.version):
        return Rejection(RejectReason.UNSUPPORTED_VERSION, "version",
                         f"version {msg.version!r}; supported are 2.0.x and 2.1.x", topic)
    for field, said, expected in (("manufacturer", msg.manufacturer, rt.robot.manufacturer),
                                  ("serialNumber", msg.serial_number, rt.robot.serial_number)):
        if said is not None and said != expected:
            return Rejection(RejectReason.IDENTITY_MISMATCH, field,
                             f"payload says {said!r}, topic says {expected!r}", topic)
    return Accepted(rt, msg)
