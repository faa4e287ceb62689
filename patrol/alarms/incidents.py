"""Grouping alarms into incidents: same zone, or within a distance, inside a time window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patrol.alarms.model import IncidentStatus, Severity
from patrol.alarms.policy import AlarmPolicy
from patrol.alarms.site import distance
from patrol.alarms.tables import AlarmRow, IncidentEventRow, IncidentRow


def _matches(incident: IncidentRow, alarm: AlarmRow, radius_m: float) -> bool:
    if alarm.zone is not None and incident.zone == alarm.zone:
        return True
    if None in (alarm.x, alarm.y, incident.x, incident.y):
        return False
    assert alarm.x is not None and alarm.y is not None and incident.x is not None and incident.y is not None
    return distance((alarm.x, alarm.y), (incident.x, incident.y)) <= radius_m


def _title(alarm: AlarmRow) -> str:
    where = f"zone {alarm.zone}" if alarm.zone else alarm.source
    return f"{alarm.type.replace('_', ' ')} in {where}"


async def attach(session: AsyncSession, alarm: AlarmRow, policy: AlarmPolicy,
                 now: datetime) -> tuple[IncidentRow, bool]:
    """The open incident `alarm` belongs to (created if none fits) and whether it was created.

    An incident fits when it is open, had activity within `incident_window_s`, and is in the
    alarm's zone or within `incident_radius_m` of the alarm. The alarm is linked to it.
    """
    since = now - timedelta(seconds=policy.incident_window_s)
    candidates = (await session.scalars(
        select(IncidentRow)
        .where(IncidentRow.status == IncidentStatus.OPEN.value, IncidentRow.last_at >= since)
        .order_by(IncidentRow.last_at.desc())
    )).all()
    for incident in candidates:
        if _matches(incident, alarm, policy.incident_radius_m):
            incident.last_at = now
            if Severity(alarm.severity).rank > Severity(incident.severity).rank:
                incident.severity = alarm.severity
            if incident.zone is None and alarm.zone is not None:
                incident.zone = alarm.zone
            if incident.x is None and alarm.x is not None:
                incident.x, incident.y = alarm.x, alarm.y
            alarm.incident_id = incident.id
            return incident, False
    incident = IncidentRow(status=IncidentStatus.OPEN.value, title=_title(alarm), severity=alarm.severity,
                           zone=alarm.zone, x=alarm.x, y=alarm.y, opened_at=now, last_at=now)
    session.add(incident)
    await session.flush()
    alarm.incident_id = incident.id
    return incident, True


def timeline(session: AsyncSession, incident_id: int, at: datetime, kind: str, actor: str,
             detail: dict[str, Any], alarm_id: int | None = None) -> None:
    """Add an entry to an incident's timeline."""
    session.add(IncidentEventRow(incident_id=incident_id, at=at, kind=kind, actor=actor, alarm_id=alarm_id,
                                 detail=detail))


async def close_if_done(session: AsyncSession, incident_id: int, at: datetime) -> IncidentRow | None:
    """Close the incident when none of its alarms is active any more; the closed incident, else None."""
    incident = await session.get(IncidentRow, incident_id)
    if incident is None or incident.status != IncidentStatus.OPEN.value:
        return None
    still_active = await session.scalar(
        select(AlarmRow.id).where(AlarmRow.incident_id == incident_id, AlarmRow.active.is_(True)).limit(1))
    if still_active is not None:
        return None
    incident.status = IncidentStatus.CLOSED.value
    incident.closed_at = at
    incident.last_at = at
    timeline(session, incident_id, at, "closed", "system", {"reason": "all alarms cleared"})
    return incident
