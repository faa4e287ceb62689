"""Alarm lifecycle: raise / repeat / clear, operator actions, incidents, dispatch and outbound state.

The database is the source of truth (a restart loses nothing); one asyncio lock serialises changes
so that "at most one active alarm per (source, type)" holds in the process, and a partial unique
index holds it in the database too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patrol import topics
from patrol.alarms import incidents
from patrol.alarms.arming import ZoneArming
from patrol.alarms.coltypes import utc_from_clock
from patrol.alarms.escalation import Escalator
from patrol.alarms.live import LiveCallback, LiveEvent, LiveHub
from patrol.alarms.model import (
    SYSTEM,
    Actor,
    AlarmSignal,
    AlarmType,
    IncidentStatus,
    RobotCondition,
    Severity,
    robot_source,
)
from patrol.alarms.policy import AlarmPolicy
from patrol.alarms.schemas import (
    AlarmDetailPublic,
    AlarmPublic,
    IncidentDetailPublic,
    IncidentPublic,
    TimelineEntryPublic,
)
from patrol.alarms.site import ParkLike, zone_at
from patrol.alarms.tables import AlarmEventRow, AlarmRow, IncidentEventRow, IncidentRow
from patrol.alarms.webhook import WebhookSender
from patrol.audit import AuditLog
from patrol.store.retry import WriteBuffer, submit_or_run
from robots.clock import Clock

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class DispatchHook(Protocol):
    async def request_dispatch(self, incident_id: int, x: float, y: float, zone: str | None,
                               severity: str) -> str | None:
        """Send a robot to (x, y); the robot's id, or None when none is available."""
        ...

    async def recall(self, incident_id: int) -> str | None:
        """The incident closed: its robot, if still on the way or on the scene, goes back to patrol.
        The robot's id, or None when no robot was on it any more."""
        ...


class AlarmNotFoundError(KeyError):
    def __str__(self) -> str:
        return f"alarm {self.args[0]} does not exist"


class IncidentNotFoundError(KeyError):
    def __str__(self) -> str:
        return f"incident {self.args[0]} does not exist"


class AlarmStateError(ValueError):
    """The action does not apply to the alarm's current state (e.g. acknowledging twice)."""


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    active: bool | None = None
    acked: bool | None = None
    severity: Severity | None = None
    type: AlarmType | None = None
    zone: str | None = None
    source: str | None = None
    incident_id: int | None = None
    limit: int = 100
    offset: int = 0
    source_prefix: str | None = None


@dataclass(slots=True)
class _Outcome:
    alarm: AlarmPublic | None = None
    incident: IncidentPublic | None = None
    new_alarm: bool = False
    new_incident: bool = False
    dispatch: tuple[int, float, float, str | None, str] | None = None


class AlarmService:
    """Owns alarms and incidents; `run()` drives escalation (start it in the service's TaskGroup)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, park: ParkLike,
                 publisher: Publisher | None, dispatch: DispatchHook | None, audit: AuditLog,
                 policy: AlarmPolicy | None = None, webhooks: WebhookSender | None = None,
                 writes: WriteBuffer | None = None) -> None:
        self._sessions = sessions
        self._writes = writes
        self._clock = clock
        self.park = park
        self._publisher = publisher
        self._dispatch = dispatch
        self.audit = audit
        self.policy = policy or AlarmPolicy()
        self.live = LiveHub()
        self.arming = ZoneArming(sessions, clock, park, self.policy, audit, self.live)
        self._lock = asyncio.Lock()
        self._last_note: dict[int, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.escalator = Escalator(sessions, clock, self.policy, audit, self.live, self._lock,
                                   webhooks or WebhookSender(clock), self._publish)
        self.publish_failures = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Escalation timers; cancellation-safe (dispatch requests in flight are cancelled on exit)."""
        try:
            await self.escalator.run()
        finally:
            for task in list(self._background):
                task.cancel()
            if self._background:
                await asyncio.gather(*self._background, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until dispatch requests and webhook deliveries in flight are done (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.escalator.drain()

    def subscribe(self, callback: LiveCallback) -> Callable[[], None]:
        """Live updates: `callback(LiveEvent)` on every alarm, incident, escalation or arming change."""
        return self.live.subscribe(callback)

    def _now(self) -> datetime:
        return utc_from_clock(self._clock.now())

    # -- ingest side -----------------------------------------------------------------------------
    async def signal(self, sig: AlarmSignal) -> AlarmPublic:
        """Raise the alarm of (source, type), or count a repeat of the active one."""
        severity = sig.severity or self.policy.severity_of(sig.type)
        x, y = sig.position if sig.position else (None, None)
        zone = sig.zone if sig.zone is not None else (zone_at(self.park, x, y) if x is not None and
                                                         y is not None else None)
        detail = {"event": sig.event, **dict(sig.detail)}
        out = _Outcome()
        async with self._lock, self._sessions.begin() as session:
            now = self._now() if sig.observed_at is None else utc_from_clock(sig.observed_at)
            row = await self._active(session, sig.source, sig.type)
            if row is not None:
                row.count += 1
                row.last_at = now
                row.details = detail
                raised = severity.rank > Severity(row.severity).rank
                if raised:  # its own timeline entry stands for this repeat
                    await self._raise_severity(session, row, severity, now, detail, out)
                if row.x is None and x is not None:
                    row.x, row.y = x, y
                if row.zone is None:
                    row.zone = zone
                last = self._last_note.get(row.id)
                if not raised and (last is None or self._clock.now() - last >= self.policy.repeat_note_s):
                    self._last_note[row.id] = self._clock.now()
                    session.add(AlarmEventRow(alarm_id=row.id, at=now, kind="repeated", actor="system",
                                              detail={**detail, "count": row.count}))
                    if row.incident_id is not None:
                        incidents.timeline(session, row.incident_id, now, sig.event, "system",
                                           {"source": row.source, "type": row.type, **detail}, row.id)
            else:
                row = AlarmRow(source=sig.source, type=sig.type.value, severity=severity.value, active=True,
                               acked=False, zone=zone, x=x, y=y, message=sig.message[:512], count=1,
                               first_at=now, last_at=now, escalation_level=0, details=detail)
                session.add(row)
                await session.flush()
                out.new_alarm = True
                session.add(AlarmEventRow(alarm_id=row.id, at=now, kind="raised", actor="system",
                                          detail={**detail, "severity": severity.value}))
                if sig.type in self.policy.incident_types:
                    incident, out.new_incident = await incidents.attach(session, row, self.policy, now)
                    if out.new_incident:
                        incidents.timeline(session, incident.id, now, "opened", "system",
                                           {"title": incident.title, "severity": incident.severity})
                    incidents.timeline(session, incident.id, now, sig.event, "system",
                                       {"source": row.source, "type": row.type, "severity": row.severity,
                                        **detail}, row.id)
                    out.dispatch = self._dispatch_decision(session, incident, now)
                    out.incident = IncidentPublic.of(incident)
            await session.flush()
            out.alarm = AlarmPublic.of(row, self.policy.escalation)
        assert out.alarm is not None
        await self._after(out)
        return out.alarm

    async def note(self, source: str, kind: AlarmType, event: str, detail: Mapping[str, Any]) -> AlarmPublic | None:
        """Add a timeline entry (e.g. a new snapshot) to the active alarm of (source, type) and its incident,
        without counting a repeat; None when no such alarm is active."""
        async with self._lock, self._sessions.begin() as session:
            row = await self._active(session, source, kind)
            if row is None:
                return None
            now = self._now()
            entry = {"event": event, **dict(detail)}
            row.details = {**(row.details or {}), **entry}
            session.add(AlarmEventRow(alarm_id=row.id, at=now, kind=event, actor="system", detail=entry))
            if row.incident_id is not None:
                incidents.timeline(session, row.incident_id, now, event, "system",
                                   {"source": row.source, "type": row.type, **entry}, row.id)
            public = AlarmPublic.of(row, self.policy.escalation)
        await self._publish(public)
        return public

    async def _raise_severity(self, session: AsyncSession, row: AlarmRow, severity: Severity, now: datetime,
                              detail: dict[str, Any], out: _Outcome) -> None:
        """A repeat came in more severe than the active alarm (a person seen standing has now fallen):
        the alarm and its incident take the higher severity, and the incident is dispatched if it now
        qualifies and was not yet."""
        previous = row.severity
        row.severity = severity.value
        session.add(AlarmEventRow(alarm_id=row.id, at=now, kind="severity_raised", actor="system",
                                  detail={**detail, "from": previous, "to": severity.value}))
        if row.incident_id is None:
            return
        incident = await session.get(IncidentRow, row.incident_id)
        if incident is None or incident.status != IncidentStatus.OPEN.value:
            return
        incident.last_at = now
        if severity.rank > Severity(incident.severity).rank:
            incident.severity = severity.value
        incidents.timeline(session, incident.id, now, "severity_raised", "system",
                           {"source": row.source, "type": row.type, "from": previous, "to": severity.value}, row.id)
        out.dispatch = self._dispatch_decision(session, incident, now)
        out.incident = IncidentPublic.of(incident)

    def _dispatch_decision(self, session: AsyncSession, incident: IncidentRow,
                           now: datetime) -> tuple[int, float, float, str | None, str] | None:
        if (self._dispatch is None or incident.dispatched_at is not None or incident.x is None
                or incident.y is None or not self.policy.dispatches(Severity(incident.severity), incident.zone)):
            return None
        incident.dispatched_at = now
        incidents.timeline(session, incident.id, now, "dispatch_requested", "system",
                           {"x": incident.x, "y": incident.y, "zone": incident.zone,
                            "severity": incident.severity})
        return incident.id, incident.x, incident.y, incident.zone, incident.severity

    async def _after(self, out: _Outcome) -> None:
        """Side effects after commit: audit, outbound state, live feed, dispatch, escalation wake-up."""
        alarm = out.alarm
        if alarm is not None:
            if out.new_alarm:
                await self.audit.system("alarm.raised", f"alarm:{alarm.id}",
                                        {"source": alarm.source, "type": alarm.type, "severity": alarm.severity,
                                         "incident": alarm.incident_id})
            await self._publish(alarm)
        if out.incident is not None:
            if out.new_incident:
                await self.audit.system("incident.opened", f"incident:{out.incident.id}",
                                        {"title": out.incident.title, "zone": out.incident.zone})
            self.live.emit(LiveEvent("incident", out.incident.model_dump(mode="json")))
        if out.dispatch is not None:  # in the background: a slow planner must not hold up ingest
            self._in_background(self._request_dispatch(*out.dispatch))
        self.escalator.wake()

    def _in_background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` beside ingest; `run()` cancels what is left on exit, `drain()` waits for it."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def background(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` (e.g. a robot's report from the synchronous dispatcher) beside ingest; a failure is
        logged with `what`, never raised."""
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except IncidentNotFoundError as exc:
                log.warning("%s: %s", what, exc)
            except Exception:
                log.exception("%s failed", what)

        self._in_background(guarded())

    async def _request_dispatch(self, incident_id: int, x: float, y: float, zone: str | None,
                                severity: str) -> None:
        assert self._dispatch is not None
        robot: str | None = None
        error = ""
        try:
            robot = await self._dispatch.request_dispatch(incident_id, x, y, zone, severity)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the dispatcher's failure must not lose the incident
            log.exception("dispatch for incident %d failed", incident_id)
            error = f"{type(exc).__name__}: {exc}"
        now = self._now()

        async def write() -> None:
            async with self._lock, self._sessions.begin() as session:
                incident = await session.get(IncidentRow, incident_id)
                if incident is None:
                    return
                if robot is not None:
                    incident.robot_id = robot
                    incidents.timeline(session, incident_id, now, "robot_dispatched", "system", {"robot": robot})
                else:
                    incident.dispatched_at = None  # a later alarm in this incident asks again
                    incidents.timeline(session, incident_id, now, "dispatch_failed", "system",
                                       {"reason": error or "no robot available now; the first one free goes"})
                public = IncidentPublic.of(incident)
            await self.audit.system("incident.dispatch", f"incident:{incident_id}",
                                    {"robot": robot, "error": error or None})
            self.live.emit(LiveEvent("incident", public.model_dump(mode="json")))

        await submit_or_run(self._writes, f"dispatch outcome of incident {incident_id}", write)

    async def _recall(self, incident_id: int) -> None:
        assert self._dispatch is not None
        try:
            robot = await self._dispatch.recall(incident_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the robot finishes its look and rejoins by itself; the closed incident stays closed
            log.exception("recalling the robot of incident %d failed", incident_id)
            return
        if robot is not None:
            await self.audit.system("incident.recall", f"incident:{incident_id}", {"robot": robot})

    async def robot_assigned(self, incident_id: int, robot: str, waited_s: float) -> None:
        """No robot could go when the incident asked; now `robot` goes (after `waited_s`)."""
        now = self._now()
        detail = {"robot": robot, "waited_s": round(waited_s, 1)}

        async def write() -> None:
            async with self._lock, self._sessions.begin() as session:
                incident = await session.get(IncidentRow, incident_id)
                if incident is None:
                    log.warning("robot %s assigned to incident %d, which does not exist", robot, incident_id)
                    return
                incident.robot_id = robot
                incident.dispatched_at = incident.dispatched_at or now
                if incident.status == IncidentStatus.OPEN.value:
                    incident.last_at = now
                incidents.timeline(session, incident_id, now, "robot_dispatched", "system", detail)
                public = IncidentPublic.of(incident)
            await self.audit.system("incident.dispatch", f"incident:{incident_id}", detail)
            self.live.emit(LiveEvent("incident", public.model_dump(mode="json")))

        await submit_or_run(self._writes, f"robot assigned to incident {incident_id}", write)

    async def robot_report(self, incident_id: int, robot: str, outcome: str, actions: Mapping[str, str], *,
                           arrived_s: float | None, on_task_s: float, next_robot: str | None = None,
                           results: Mapping[str, str] | None = None) -> None:
        """The dispatcher's word on the robot sent to an incident: `outcome` done / failed (its scan or photo
        failed) / offline (lost on the way; `next_robot` was sent instead, if any) / recalled (the incident
        closed first), into the incident's timeline with what its actions answered (`results`, e.g. the
        photo's URL on the robot); the robot and dispatch state of an open incident follow it."""
        now = self._now()
        detail: dict[str, Any] = {"robot": robot, "outcome": outcome, "actions": dict(actions),
                                  "results": dict(results or {}),
                                  "arrived_after_s": None if arrived_s is None else round(arrived_s, 1),
                                  "on_task_s": round(on_task_s, 1)}

        async def write() -> None:
            async with self._lock, self._sessions.begin() as session:
                incident = await session.get(IncidentRow, incident_id)
                if incident is None:
                    log.warning("robot %s reported on incident %d, which does not exist", robot, incident_id)
                    return
                incidents.timeline(session, incident_id, now, "robot_report", "system", detail)
                is_open = incident.status == IncidentStatus.OPEN.value
                if is_open:
                    incident.last_at = now
                if is_open and outcome == "offline" and incident.robot_id == robot:
                    incident.robot_id = next_robot
                    if next_robot is not None:
                        incidents.timeline(session, incident_id, now, "robot_dispatched", "system",
                                           {"robot": next_robot, "instead_of": robot})
                    else:  # nobody can go now: the dispatcher sends the first robot free
                        incidents.timeline(session, incident_id, now, "dispatch_failed", "system",
                                           {"reason": f"robot {robot} went offline; no other robot available now, "
                                                      "the first one free goes"})
                public = IncidentPublic.of(incident)
            await self.audit.system("incident.robot_report", f"incident:{incident_id}", detail)
            self.live.emit(LiveEvent("incident", public.model_dump(mode="json")))

        await submit_or_run(self._writes, f"robot report on incident {incident_id}", write)

    async def condition_ended(self, source: str, kind: AlarmType, detail: Mapping[str, Any]) -> AlarmPublic | None:
        """The condition behind (source, type) is gone: clear its alarm if the type clears by itself."""
        if kind not in self.policy.auto_clear_types:
            return None
        return await self._clear(source, kind, None, SYSTEM, dict(detail))

    async def robot_condition(self, robot_id: str, kind: RobotCondition | str, active: bool, detail: str = "",
                              x: float | None = None, y: float | None = None) -> AlarmPublic | None:
        """A robot fault, e-stop, loss of connection or low battery began (`active`) or ended."""
        condition = RobotCondition(kind)
        source = robot_source(robot_id)
        if not active:
            return await self.condition_ended(source, condition.alarm_type, {"detail": detail})
        position = (x, y) if x is not None and y is not None else None
        return await self.signal(AlarmSignal(source, condition.alarm_type, f"robot_{condition.value}",
                                             position=position, message=f"robot {robot_id}: {detail}"[:512],
                                             detail={"robot": robot_id, "detail": detail}))

    # -- operator actions ------------------------------------------------------------------------
    async def ack(self, alarm_id: int, actor: Actor) -> AlarmPublic:
        def change(row: AlarmRow, now: datetime) -> dict[str, Any]:
            if row.acked:
                raise AlarmStateError(f"alarm {alarm_id} is already acknowledged by {row.acked_by}")
            row.acked, row.acked_at, row.acked_by = True, now, actor.name
            return {}
        return await self._operator(alarm_id, actor, "ack", change)

    async def assign(self, alarm_id: int, assignee: str | None, actor: Actor) -> AlarmPublic:
        def change(row: AlarmRow, now: datetime) -> dict[str, Any]:
            row.assignee = assignee
            return {"assignee": assignee}
        return await self._operator(alarm_id, actor, "assign", change)

    async def comment(self, alarm_id: int, text: str, actor: Actor) -> AlarmPublic:
        def change(row: AlarmRow, now: datetime) -> dict[str, Any]:
            return {"text": text}
        return await self._operator(alarm_id, actor, "comment", change)

    async def clear(self, alarm_id: int, actor: Actor, note: str = "") -> AlarmPublic:
        async with self._sessions() as session:
            row = await session.get(AlarmRow, alarm_id)
        if row is None:
            raise AlarmNotFoundError(alarm_id)
        if not row.active:
            raise AlarmStateError(f"alarm {alarm_id} is already cleared")
        cleared = await self._clear(row.source, AlarmType(row.type), alarm_id, actor, {"note": note} if note else {})
        if cleared is None:
            raise AlarmStateError(f"alarm {alarm_id} is already cleared")
        return cleared

    async def _clear(self, source: str, kind: AlarmType, alarm_id: int | None, actor: Actor,
                     detail: dict[str, Any]) -> AlarmPublic | None:
        closed: IncidentRow | None = None
        async with self._lock, self._sessions.begin() as session:
            row = await self._active(session, source, kind)
            if row is None or (alarm_id is not None and row.id != alarm_id):
                return None
            now = self._now()
            row.active, row.cleared_at, row.cleared_by = False, now, actor.name
            session.add(AlarmEventRow(alarm_id=row.id, at=now, kind="cleared", actor=actor.name, detail=detail))
            if row.incident_id is not None:
                incidents.timeline(session, row.incident_id, now, "alarm_cleared", actor.name,
                                   {"source": row.source, "type": row.type, **detail}, row.id)
                await session.flush()
                closed = await incidents.close_if_done(session, row.incident_id, now)
            public = AlarmPublic.of(row, self.policy.escalation)
            closed_public = IncidentPublic.of(closed) if closed is not None else None
        self._last_note.pop(public.id, None)
        await self.audit.record(actor.name, actor.role, "alarm.clear", f"alarm:{public.id}", detail, actor.remote)
        if closed_public is not None:
            await self.audit.system("incident.closed", f"incident:{closed_public.id}", {})
            self.live.emit(LiveEvent("incident", closed_public.model_dump(mode="json")))
            if self._dispatch is not None:  # its robot (or its wait for one) ends
                self._in_background(self._recall(closed_public.id))
        await self._publish(public)
        self.escalator.wake()
        return public

    async def _operator(self, alarm_id: int, actor: Actor, action: str,
                        change: Callable[[AlarmRow, datetime], dict[str, Any]]) -> AlarmPublic:
        async with self._lock, self._sessions.begin() as session:
            row = await session.get(AlarmRow, alarm_id)
            if row is None:
                raise AlarmNotFoundError(alarm_id)
            now = self._now()
            detail: dict[str, Any] = change(row, now)
            session.add(AlarmEventRow(alarm_id=row.id, at=now, kind=action, actor=actor.name, detail=detail))
            if row.incident_id is not None:
                incidents.timeline(session, row.incident_id, now, f"operator_{action}", actor.name,
                                   {"source": row.source, "type": row.type, **detail}, row.id)
            public = AlarmPublic.of(row, self.policy.escalation)
        await self.audit.record(actor.name, actor.role, f"alarm.{action}", f"alarm:{alarm_id}", detail,
                                actor.remote)
        await self._publish(public)
        self.escalator.wake()
        return public

    # -- robots on incidents ---------------------------------------------------------------------
    async def robot_arrived(self, incident_id: int, robot_id: str, x: float | None = None,
                            y: float | None = None) -> IncidentPublic:
        """The dispatched robot reached the incident."""
        return await self._incident_entry(incident_id, "robot_arrived", {"robot": robot_id, "x": x, "y": y})

    async def robot_photo(self, incident_id: int, robot_id: str, photo: str,
                          detail: Mapping[str, Any] | None = None) -> IncidentPublic:
        """A photo the robot took at the incident; `photo` is its reference (path or URL)."""
        return await self._incident_entry(incident_id, "robot_photo",
                                          {"robot": robot_id, "photo": photo, **dict(detail or {})})

    async def _incident_entry(self, incident_id: int, kind: str, detail: dict[str, Any]) -> IncidentPublic:
        async with self._lock, self._sessions.begin() as session:
            incident = await session.get(IncidentRow, incident_id)
            if incident is None:
                raise IncidentNotFoundError(incident_id)
            now = self._now()
            incident.last_at = now
            incidents.timeline(session, incident_id, now, kind, "system", detail)
            public = IncidentPublic.of(incident)
        await self.audit.system(f"incident.{kind}", f"incident:{incident_id}", detail)
        self.live.emit(LiveEvent("incident", public.model_dump(mode="json")))
        return public

    # -- queries ---------------------------------------------------------------------------------
    @staticmethod
    async def _active(session: AsyncSession, source: str, kind: AlarmType) -> AlarmRow | None:
        row: AlarmRow | None = await session.scalar(select(AlarmRow).where(
            AlarmRow.source == source, AlarmRow.type == kind.value, AlarmRow.active.is_(True)))
        return row

    async def active_alarm(self, source: str, kind: AlarmType) -> AlarmPublic | None:
        async with self._sessions() as session:
            row = await self._active(session, source, kind)
            return AlarmPublic.of(row, self.policy.escalation) if row is not None else None

    async def list_alarms(self, flt: AlarmFilter | None = None) -> list[AlarmPublic]:
        flt = flt or AlarmFilter()
        query = select(AlarmRow).order_by(AlarmRow.last_at.desc(), AlarmRow.id.desc())
        for column, value in ((AlarmRow.active, flt.active), (AlarmRow.acked, flt.acked),
                              (AlarmRow.zone, flt.zone), (AlarmRow.source, flt.source),
                              (AlarmRow.incident_id, flt.incident_id)):
            if value is not None:
                query = query.where(column == value)
        if flt.source_prefix is not None:
            query = query.where(AlarmRow.source.startswith(flt.source_prefix, autoescape=True))
        if flt.severity is not None:
            query = query.where(AlarmRow.severity == flt.severity.value)
        if flt.type is not None:
            query = query.where(AlarmRow.type == flt.type.value)
        query = query.limit(max(1, min(flt.limit, 1000))).offset(max(0, flt.offset))
        async with self._sessions() as session:
            return [AlarmPublic.of(r, self.policy.escalation) for r in (await session.scalars(query)).all()]

    async def count_active(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(AlarmRow)
                                            .where(AlarmRow.active.is_(True))) or 0)

    async def get_alarm(self, alarm_id: int) -> AlarmDetailPublic:
        async with self._sessions() as session:
            row = await session.get(AlarmRow, alarm_id)
            if row is None:
                raise AlarmNotFoundError(alarm_id)
            events = (await session.scalars(select(AlarmEventRow).where(AlarmEventRow.alarm_id == alarm_id)
                                            .order_by(AlarmEventRow.id))).all()
            return AlarmDetailPublic(**AlarmPublic.of(row, self.policy.escalation).model_dump(),
                                     timeline=[TimelineEntryPublic.of_alarm(e) for e in events])

    async def list_incidents(self, status: str | None = None, zone: str | None = None,
                             limit: int = 100, offset: int = 0) -> list[IncidentPublic]:
        query = select(IncidentRow).order_by(IncidentRow.last_at.desc(), IncidentRow.id.desc())
        if status is not None:
            query = query.where(IncidentRow.status == status)
        if zone is not None:
            query = query.where(IncidentRow.zone == zone)
        query = query.limit(max(1, min(limit, 1000))).offset(max(0, offset))
        async with self._sessions() as session:
            return [IncidentPublic.of(r) for r in (await session.scalars(query)).all()]

    async def get_incident(self, incident_id: int) -> IncidentDetailPublic:
        async with self._sessions() as session:
            row = await session.get(IncidentRow, incident_id)
            if row is None:
                raise IncidentNotFoundError(incident_id)
            alarms: Sequence[AlarmRow] = (await session.scalars(
                select(AlarmRow).where(AlarmRow.incident_id == incident_id).order_by(AlarmRow.id))).all()
            events = (await session.scalars(select(IncidentEventRow)
                                            .where(IncidentEventRow.incident_id == incident_id)
                                            .order_by(IncidentEventRow.id))).all()
            return IncidentDetailPublic(**IncidentPublic.of(row).model_dump(),
                                        alarms=[AlarmPublic.of(a, self.policy.escalation) for a in alarms],
                                        timeline=[TimelineEntryPublic.of_incident(e) for e in events])

    # -- outbound --------------------------------------------------------------------------------
    async def _publish(self, alarm: AlarmPublic) -> None:
        data = alarm.model_dump(mode="json")
        self.live.emit(LiveEvent("alarm", data))
        if self._publisher is None:
            return
        try:
            await self._publisher.publish(topics.alarm(alarm.id), orjson.dumps(data), qos=1, retain=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker being away must not lose the alarm (it is in the store)
            self.publish_failures += 1
            log.warning("could not publish alarm %d: %s", alarm.id, exc)

    async def republish_active(self) -> int:
        """Publish every active alarm's retained state again (e.g. after the broker lost its store)."""
        alarms = await self.list_alarms(AlarmFilter(active=True, limit=1000))
        for alarm in alarms:
            await self._publish(alarm)
        return len(alarms)
