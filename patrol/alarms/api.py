"""REST routes of alarms, incidents, zone arming, sensors and the audit log.

Handlers translate HTTP to service calls; the rules live in `AlarmService`, `ZoneArming`,
`SensorService` and `AuditLog`, which the lifespan puts into the request state as ``alarms``,
``sensors`` and ``audit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from patrol.alarms.arming import UnknownZoneError
from patrol.alarms.model import Actor, AlarmStatus, AlarmType, ArmingMode, IncidentStatus, Severity
from patrol.alarms.photos import NAME as PHOTO_NAME
from patrol.alarms.photos import IncidentPhotos, PhotoError
from patrol.alarms.schemas import AlarmDetailPublic, AlarmPublic, IncidentDetailPublic, IncidentPublic, ZoneArmingPublic
from patrol.alarms.service import AlarmFilter, AlarmNotFoundError, AlarmService, AlarmStateError, IncidentNotFoundError
from patrol.api.deps import ClientAddr, DbId, OperatorUser, SupervisorUser, ViewerUser, field_error, state_item
from patrol.audit import AuditLog
from patrol.auth import User
from patrol.sensors.schemas import ReadingPublic, SensorPlace, SensorPublic
from patrol.sensors.service import SensorService, UnknownSensorError


def get_alarms(request: Request) -> AlarmService:
    svc: AlarmService = state_item(request, "alarms", AlarmService)
    return svc


def get_sensors(request: Request) -> SensorService:
    svc: SensorService = state_item(request, "sensors", SensorService)
    return svc


def get_audit(request: Request) -> AuditLog:
    svc: AuditLog = state_item(request, "audit", AuditLog)
    return svc


Alarms = Annotated[AlarmService, Depends(get_alarms)]
Sensors = Annotated[SensorService, Depends(get_sensors)]
Audit = Annotated[AuditLog, Depends(get_audit)]


def _actor(user: User, remote: str) -> Actor:
    return Actor(user.username, user.role.value, remote)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(max_length=64, description="username to assign, or null to unassign")


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class ArmingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: ArmingMode


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    remote: str


class IngestStatsPublic(BaseModel):
    counters: dict[str, int]
    readings_rows_written: int


def _not_found(exc: KeyError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def make_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    # -- alarms ----------------------------------------------------------------------------------
    @router.get("/alarms", tags=["alarms"])
    async def list_alarms(
        alarms: Alarms, user: ViewerUser, active: bool | None = None, acked: bool | None = None,
        severity: Severity | None = None, type: AlarmType | None = None,
        zone: Annotated[str | None, Query(max_length=64)] = None,
        source: Annotated[str | None, Query(max_length=128)] = None, incident_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        status_: Annotated[AlarmStatus | None, Query(alias="status")] = None,
    ) -> list[AlarmPublic]:
        if status_ is not None:
            wanted_active = status_ in (AlarmStatus.ACTIVE_ACK, AlarmStatus.ACTIVE_UNACK)
            wanted_acked = status_ in (AlarmStatus.ACTIVE_ACK, AlarmStatus.CLEARED_ACK)
            if (active is not None and active != wanted_active) or (acked is not None and acked != wanted_acked):
                raise field_error("query", "status", f"{status_.value} contradicts the active/acked parameters")
            active, acked = wanted_active, wanted_acked
        return await alarms.list_alarms(AlarmFilter(active, acked, severity, type, zone, source, incident_id,
                                                    limit, offset))

    @router.get("/alarms/{alarm_id}", tags=["alarms"])
    async def get_alarm(alarm_id: DbId, alarms: Alarms, user: ViewerUser) -> AlarmDetailPublic:
        try:
            return await alarms.get_alarm(alarm_id)
        except AlarmNotFoundError as exc:
            raise _not_found(exc) from exc

    async def _act(coro: Awaitable[AlarmPublic]) -> AlarmPublic:
        try:
            return await coro
        except AlarmNotFoundError as exc:
            raise _not_found(exc) from exc
        except AlarmStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc

    @router.post("/alarms/{alarm_id}/ack", tags=["alarms"])
    async def ack(alarm_id: DbId, alarms: Alarms, user: OperatorUser, remote: ClientAddr) -> AlarmPublic:
        return await _act(alarms.ack(alarm_id, _actor(user, remote)))

    @router.post("/alarms/{alarm_id}/assign", tags=["alarms"])
    async def assign(alarm_id: DbId, body: AssignBody, alarms: Alarms, user: OperatorUser,
                     remote: ClientAddr) -> AlarmPublic:
        return await _act(alarms.assign(alarm_id, body.assignee or None, _actor(user, remote)))

    @router.post("/alarms/{alarm_id}/comment", tags=["alarms"])
    async def comment(alarm_id: DbId, body: CommentBody, alarms: Alarms, user: OperatorUser,
                      remote: ClientAddr) -> AlarmPublic:
        return await _act(alarms.comment(alarm_id, body.text, _actor(user, remote)))

    @router.post("/alarms/{alarm_id}/clear", tags=["alarms"])
    async def clear(alarm_id: DbId, alarms: Alarms, user: OperatorUser, remote: ClientAddr,
                    body: ClearBody | None = None) -> AlarmPublic:
        return await _act(alarms.clear(alarm_id, _actor(user, remote), body.note if body else ""))

    # -- incidents -------------------------------------------------------------------------------
    @router.get("/incidents", tags=["incidents"])
    async def list_incidents(
        alarms: Alarms, user: ViewerUser, status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
        zone: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> list[IncidentPublic]:
        return await alarms.list_incidents(status_.value if status_ else None, zone, limit, offset)

    @router.get("/incidents/{incident_id}", tags=["incidents"])
    async def get_incident(incident_id: DbId, alarms: Alarms, user: ViewerUser) -> IncidentDetailPublic:
        try:
            return await alarms.get_incident(incident_id)
        except IncidentNotFoundError as exc:
            raise _not_found(exc) from exc

    @router.get("/incidents/{incident_id}/photos/{action_id}.jpg", tags=["incidents"], response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
    async def incident_photo(incident_id: DbId, action_id: str, request: Request, user: ViewerUser) -> Response:
        if not PHOTO_NAME.fullmatch(action_id):
            raise field_error("path", "action_id", "1-128 of A-Z a-z 0-9 _ . : -")
        photos: IncidentPhotos = state_item(request, "incident_photos", IncidentPhotos)
        try:
            jpeg = await asyncio.to_thread(photos.get, incident_id, action_id)
        except PhotoError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"action_id: {exc}") from exc
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    # -- zone arming -----------------------------------------------------------------------------
    @router.get("/zones/arming", tags=["arming"])
    async def arming_states(alarms: Alarms, user: ViewerUser) -> list[ZoneArmingPublic]:
        return await alarms.arming.states()

    @router.put("/zones/{zone_id}/arming", tags=["arming"])
    async def set_arming(zone_id: str, body: ArmingBody, alarms: Alarms, user: SupervisorUser,
                         remote: ClientAddr) -> ZoneArmingPublic:
        try:
            return await alarms.arming.set_mode(zone_id, body.mode, _actor(user, remote))
        except UnknownZoneError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone_id: {exc}") from exc

    # -- sensors ---------------------------------------------------------------------------------
    @router.get("/sensors", tags=["sensors"])
    async def list_sensors(sensors: Sensors, user: ViewerUser,
                           status_: Annotated[str | None, Query(alias="status", pattern="^(placed|pending)$")]
                           = None) -> list[SensorPublic]:
        return await sensors.sensors(status_)

    @router.get("/sensors/pending", tags=["sensors"])
    async def pending_sensors(sensors: Sensors, user: ViewerUser) -> list[SensorPublic]:
        return await sensors.sensors("pending")

    @router.get("/sensors/stats", tags=["sensors"])
    async def ingest_stats(sensors: Sensors, user: ViewerUser) -> IngestStatsPublic:
        return IngestStatsPublic(counters=sensors.counters.as_dict(),
                                 readings_rows_written=sensors.readings.rows_written)

    @router.post("/sensors/{sensor_id:path}/place", tags=["sensors"])
    async def place_sensor(sensor_id: str, body: SensorPlace, sensors: Sensors, user: SupervisorUser,
                           remote: ClientAddr) -> SensorPublic:
        try:
            return await sensors.place(sensor_id, body, _actor(user, remote))
        except UnknownSensorError as exc:
            raise _not_found(exc) from exc
        except ValueError as exc:
            name, sep, message = str(exc).partition(": ")  # the place errors start with the field's name
            raise field_error("body", name if sep and name.isidentifier() else "sensor", message or name) from exc

    @router.get("/sensors/{sensor_id:path}/readings", tags=["sensors"])
    async def readings(sensor_id: str, sensors: Sensors, user: ViewerUser,
                       field: Annotated[str | None, Query(max_length=32)] = None, since: datetime | None = None,
                       limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[ReadingPublic]:
        try:
            return await sensors.history(sensor_id, field, since, limit)
        except UnknownSensorError as exc:
            raise _not_found(exc) from exc

    # -- audit -----------------------------------------------------------------------------------
    @router.get("/audit", tags=["audit"])
    async def audit_log(
        audit: Audit, user: SupervisorUser, actor: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        target: Annotated[str | None, Query(max_length=128)] = None, since: datetime | None = None,
        until: datetime | None = None, before_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEntryPublic]:
        entries = await audit.entries(actor=actor, action=action, target=target, since=since, until=until,
                                      before_id=before_id, limit=limit)
        return [AuditEntryPublic(id=e.id, at=e.at, actor=e.actor, role=e.role, action=e.action, target=e.target,
                                 detail=dict(e.detail), remote=e.remote) for e in entries]

    return router


router = make_router()
