"""Wire models of alarms and incidents (REST responses, retained MQTT state, live updates)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from patrol.alarms.model import AlarmStatus, AlarmType, ArmingMode, EscalationAction, IncidentStatus, Severity
from patrol.alarms.tables import AlarmEventRow, AlarmRow, IncidentEventRow, IncidentRow


class EscalationStepLike(Protocol):
    @property
    def action(self) -> EscalationAction: ...


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class AlarmPublic(_Public):
    id: int
    source: str
    type: AlarmType
    severity: Severity
    status: AlarmStatus
    active: bool
    acked: bool
    zone: str | None
    x: float | None
    y: float | None
    message: str
    count: int
    first_at: datetime
    last_at: datetime
    acked_at: datetime | None
    acked_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    assignee: str | None
    incident_id: int | None
    escalation_level: int
    # the escalation in force (banner / sound / webhook) while the alarm is active and unacknowledged
    escalation: EscalationAction | None = None
    details: dict[str, Any]

    @classmethod
    def of(cls, row: AlarmRow, steps: Sequence[EscalationStepLike] = ()) -> AlarmPublic:
        level = row.escalation_level
        escalation = steps[level - 1].action if row.active and not row.acked and 0 < level <= len(steps) else None
        return cls(
            id=row.id, source=row.source, type=AlarmType(row.type), severity=Severity(row.severity),
            status=AlarmStatus.of(row.active, row.acked), active=row.active, acked=row.acked, zone=row.zone,
            x=row.x, y=row.y, message=row.message, count=row.count, first_at=row.first_at, last_at=row.last_at,
            acked_at=row.acked_at, acked_by=row.acked_by, cleared_at=row.cleared_at, cleared_by=row.cleared_by,
            assignee=row.assignee, incident_id=row.incident_id, escalation_level=row.escalation_level,
            escalation=escalation, details=dict(row.details or {}),
        )


class TimelineEntryPublic(_Public):
    id: int
    at: datetime
    kind: str
    actor: str
    alarm_id: int | None = None
    detail: dict[str, Any]

    @classmethod
    def of_alarm(cls, row: AlarmEventRow) -> TimelineEntryPublic:
        return cls(id=row.id, at=row.at, kind=row.kind, actor=row.actor, alarm_id=row.alarm_id,
                   detail=dict(row.detail or {}))

    @classmethod
    def of_incident(cls, row: IncidentEventRow) -> TimelineEntryPublic:
        return cls(id=row.id, at=row.at, kind=row.kind, actor=row.actor, alarm_id=row.alarm_id,
                   detail=dict(row.detail or {}))


class AlarmDetailPublic(AlarmPublic):
    timeline: list[TimelineEntryPublic]


class IncidentPublic(_Public):
    id: int
    status: IncidentStatus
    title: str
    severity: Severity
    zone: str | None
    x: float | None
    y: float | None
    opened_at: datetime
    last_at: datetime
    closed_at: datetime | None
    robot_id: str | None
    dispatched_at: datetime | None

    @classmethod
    def of(cls, row: IncidentRow) -> IncidentPublic:
        return cls(id=row.id, status=IncidentStatus(row.status), title=row.title,
                   severity=Severity(row.severity), zone=row.zone, x=row.x, y=row.y, opened_at=row.opened_at,
                   last_at=row.last_at, closed_at=row.closed_at, robot_id=row.robot_id,
                   dispatched_at=row.dispatched_at)


class IncidentDetailPublic(IncidentPublic):
    alarms: list[AlarmPublic]
    timeline: list[TimelineEntryPublic]


class ZoneArmingPublic(_Public):
    zone: str
    kind: str
    schedule: str
    mode: ArmingMode
    armed: bool
    set_by: str | None
    set_at: datetime | None
