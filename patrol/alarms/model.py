"""Alarm and incident vocabulary: severities, types, statuses, and the signal that raises an alarm."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.WARNING: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class AlarmType(enum.StrEnum):
    INTRUSION = "intrusion"
    SMOKE = "smoke"
    WATER = "water"
    TAMPER = "tamper"
    SENSOR_OFFLINE = "sensor_offline"
    SENSOR_LOW_BATTERY = "sensor_low_battery"
    CAMERA_OFFLINE = "camera_offline"
    ROBOT_FAULT = "robot_fault"
    ROBOT_ESTOP = "robot_estop"
    ROBOT_OFFLINE = "robot_offline"
    ROBOT_LOW_BATTERY = "robot_low_battery"
    VISION = "vision"


class RobotCondition(enum.StrEnum):
    """Robot conditions the fleet reports to `AlarmService.robot_condition`."""

    FAULT = "fault"
    ESTOP = "estop"
    OFFLINE = "offline"
    LOW_BATTERY = "low_battery"

    @property
    def alarm_type(self) -> AlarmType:
        return _ROBOT_ALARM[self]


_ROBOT_ALARM = {
    RobotCondition.FAULT: AlarmType.ROBOT_FAULT,
    RobotCondition.ESTOP: AlarmType.ROBOT_ESTOP,
    RobotCondition.OFFLINE: AlarmType.ROBOT_OFFLINE,
    RobotCondition.LOW_BATTERY: AlarmType.ROBOT_LOW_BATTERY,
}


class AlarmStatus(enum.StrEnum):
    """ThingsBoard's four states: active or cleared, acknowledged or not."""

    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"

    @classmethod
    def of(cls, active: bool, acked: bool) -> AlarmStatus:
        if active:
            return cls.ACTIVE_ACK if acked else cls.ACTIVE_UNACK
        return cls.CLEARED_ACK if acked else cls.CLEARED_UNACK


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ArmingMode(enum.StrEnum):
    """Manual override of a zone's arming schedule; AUTO follows the schedule."""

    AUTO = "auto"
    ARMED = "armed"
    DISARMED = "disarmed"


class EscalationAction(enum.StrEnum):
    BANNER = "banner"
    SOUND = "sound"
    WEBHOOK = "webhook"


def sensor_source(sensor_id: str) -> str:
    return f"sensor:{sensor_id}"


def camera_source(camera_id: str) -> str:
    return f"camera:{camera_id}"


def robot_source(robot_id: str) -> str:
    return f"robot:{robot_id}"


@dataclass(frozen=True, slots=True)
class AlarmSignal:
    """A condition observed by ingest: raise (or repeat) the alarm of (`source`, `type`).

    `severity` None takes the policy's default for the type. `position` and `zone` place the
    alarm on the map (they drive incident grouping and dispatch). `event` names the timeline
    entry (e.g. ``sensor_trip``, ``camera_event``) and `detail` its payload (snapshot reference,
    sensor field, label and score). `observed_at` (clock seconds) is when ingest saw it; None means
    now. A signal stored late (the database was briefly away) keeps the time it was observed.
    """

    source: str
    type: AlarmType
    event: str
    severity: Severity | None = None
    zone: str | None = None
    position: tuple[float, float] | None = None
    message: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    observed_at: float | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a logged-in user (with the client address) or the service itself."""

    name: str
    role: str
    remote: str


SYSTEM = Actor("system", "system", "local")
