"""Patrol plans in the store, the scheduler that runs them, and the bridge from the live fleet to the
planner's dispatcher (VDA 5050 states in, orders out over MQTT).

One plan patrols at a time: the first enabled plan (lowest `rank`; of equal ranks one switched `on`
before one on its schedule) that is switched `on`, or `auto` with its weekly schedule active now.
Robots: the plan's list, or every available patrol dog. A fresh store gets one plan, "all
checkpoints, around the clock, any patrol dog". Dogs no plan uses (or all of them, when no plan is
active) stand by: alarms still send the one with the lowest route time.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import math
from collections import deque
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, and_, delete, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from maps import Park, WeeklySchedule
from patrol.alarms.coltypes import UTCDateTime, utc_from_clock
from patrol.alarms.photos import IncidentPhotos, PhotoError
from patrol.api.deps import ClientAddr, DbId, OperatorUser, SupervisorUser, ViewerUser, field_error, state_item
from patrol.dispatch.dispatcher import PatrolDispatcher
from patrol.dispatch.model import Incident, IncidentReport, RobotInfo, RobotStatus
from patrol.dispatch.orders import NodeGeometry
from patrol.fleet.registry import RobotKind
from patrol.fleet.state import RobotChange, RobotLive
from patrol.planner.idleness import Visit
from patrol.planner.model import Checkpoint
from patrol.planner.park import park_patrol, visits_per_cycle
from patrol.planner.planner import Planner
from patrol.store.base import Base
from robots.vda5050.factsheet import Factsheet
from robots.vda5050.order import InstantActions, Order
from robots.vda5050.topics import RobotId, RobotTopic, VdaTopic

if TYPE_CHECKING:
    from patrol.app import Loop, Subsystem
    from patrol.runtime import Runtime

log = logging.getLogger(__name__)
SNAP_TO_NODE_M = 3.0


class PlanMode(enum.StrEnum):
    AUTO = "auto"  # runs while its schedule is active
    ON = "on"
    OFF = "off"


class PatrolPlanRow(Base):
    __tablename__ = "patrol_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    checkpoints: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    schedule: Mapped[str] = mapped_column(String(256), nullable=False, default="24/7")
    robots: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default=PlanMode.AUTO.value)
    rank: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False)


VISITS_BUFFER = 100_000
"""Visits kept in memory while the store is away (about a day of a large park's patrols)."""


class PatrolVisitRow(Base):
    """A robot passed a checkpoint: the patrol's record of who was where when (`interval_s`: since the
    checkpoint's previous visit, None for the first one the service saw)."""

    __tablename__ = "patrol_visits"
    __table_args__ = (Index("ix_patrol_visits_checkpoint_at", "checkpoint", "at"),
                      Index("ix_patrol_visits_at", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    checkpoint: Mapped[str] = mapped_column(String(64), nullable=False)
    waypoint: Mapped[str] = mapped_column(String(64), nullable=False)
    robot_id: Mapped[str] = mapped_column(String(64), nullable=False)
    interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VisitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    checkpoint: str
    waypoint: str
    robot_id: str
    interval_s: float | None
    plan_id: int | None


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    checkpoints: list[str] = Field(default_factory=list, max_length=500,
                                   description="checkpoint ids of the map; empty: all of them")
    schedule: str = Field("24/7", max_length=256, description='weekly hours, e.g. "Mo-Su 22:00-06:00"')
    robots: list[str] = Field(default_factory=list, max_length=200, description="robot ids; empty: any patrol dog")
    mode: PlanMode = PlanMode.AUTO
    rank: int = Field(100, ge=0, le=10_000)


class PlanPublic(PlanIn):
    id: int
    running: bool
    updated_by: str


@dataclass
class _Sink:
    """The dispatcher's CommandSink: orders and instant actions onto the bus (non-blocking)."""

    rt: Runtime

    def _send(self, robot_id: str, kind: VdaTopic, payload: bytes) -> None:
        live = self.rt.fleet.robots.get(robot_id)
        if live is None:
            return
        topic = RobotTopic(RobotId(live.manufacturer, live.serial_number), kind,
                           interface=self.rt.settings.broker.vda_interface)
        self.rt.bus.publish_nowait(str(topic), payload, qos=topic.qos, retain=topic.retain)

    def send_order(self, robot_id: str, order: Order) -> None:
        self._send(robot_id, VdaTopic.ORDER, order.to_json())

    def send_instant_actions(self, robot_id: str, actions: InstantActions) -> None:
        self._send(robot_id, VdaTopic.INSTANT_ACTIONS, actions.to_json())


class PatrolService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.park: Park = rt.park
        self.base = park_patrol(rt.park)
        self.geometry = NodeGeometry.from_graph(self.base.graph, rt.park.id)
        self.dispatcher: PatrolDispatcher | None = None
        self.running_plan: int | None = None
        self.visits = 0
        self.reports: list[IncidentReport] = []
        self._reconcile_lock = asyncio.Lock()
        self._visits_out: deque[dict[str, Any]] = deque(maxlen=VISITS_BUFFER)
        self.visits_stored = 0
        self.visits_dropped = 0
        self._by_waypoint = {c.waypoint: cid for cid, c in rt.park.checkpoints.items()}

    # -- plans -----------------------------------------------------------------------------------
    async def ensure_default_plan(self) -> None:
        async with self.rt.store.sessions.begin() as s:
            if await s.scalar(select(PatrolPlanRow.id).limit(1)) is None:
                s.add(PatrolPlanRow(name="All checkpoints, around the clock", checkpoints=[], schedule="24/7",
                                    robots=[], mode=PlanMode.AUTO.value, rank=100,
                                    updated_at=datetime.now(UTC), updated_by="system"))

    async def plans(self) -> list[PatrolPlanRow]:
        async with self.rt.store.sessions() as s:
            rows = (await s.scalars(select(PatrolPlanRow).order_by(PatrolPlanRow.rank, PatrolPlanRow.id))).all()
        # of equal ranks, a plan an operator switched on comes before one that runs by its schedule
        return sorted(rows, key=lambda p: (p.rank, p.mode != PlanMode.ON.value, p.id))

    def validate(self, body: PlanIn) -> None:
        unknown = [c for c in body.checkpoints if c not in self.park.checkpoints]
        if unknown:
            raise field_error("body", "checkpoints", f"not on the map: {unknown[:5]}")
        registry = self.rt.registry
        not_dogs = [r for r in body.robots
                    if (rec := registry.get(r)) is None or rec.kind is not RobotKind.PATROL_DOG]
        if not_dogs:
            raise field_error("body", "robots", f"not registered patrol dogs: {not_dogs[:5]}")
        try:
            WeeklySchedule.parse(body.schedule, self.park.timezone)
        except ValueError as e:
            raise field_error("body", "schedule", str(e)) from e

    def _active(self, row: PatrolPlanRow, now: float) -> bool:
        if row.mode == PlanMode.ON.value:
            return True
        if row.mode == PlanMode.OFF.value:
            return False
        try:
            return WeeklySchedule.parse(row.schedule, self.park.timezone).active_at(
                datetime.fromtimestamp(now, tz=UTC))
        except ValueError:
            return False

    async def reconcile(self, replan: bool = False) -> None:
        """Run the plan that should run now (or none); `replan`: plan again even when it is already running
        (it was edited). One at a time: the loop's and the API's must not interleave."""
        async with self._reconcile_lock:
            await self._reconcile(replan)

    async def _reconcile(self, replan: bool) -> None:
        now = self.rt.clock.now()
        wanted = next((p for p in await self.plans() if self._active(p, now)), None)
        wanted_id = wanted.id if wanted is not None else None
        if self.dispatcher is None:
            # one dispatcher for the service's life, plan or no plan: alarms get a robot at any hour, and a
            # robot on an incident is followed to its end whatever the plans do meanwhile
            self.dispatcher = self._build()
            try:
                await self._seed_idleness(self.dispatcher)
            except Exception as exc:  # idleness counts from the first visits instead
                log.warning("last stored visits not read (%s); idleness starts afresh", exc)
            for live in self.rt.fleet.robots.values():
                self._feed(live, now)
        elif wanted_id == self.running_plan and not replan:
            return
        if wanted is None:
            if self.running_plan is not None or self.dispatcher.patrolling:
                self.dispatcher.cancel(now)  # incidents and charging go on; alarms still send any free dog
                log.info("no patrol plan is active now; the dogs stand by for alarms")
                self.rt.live.event({"kind": "patrol", "plan": None, "running": False})
            self.running_plan = None
            return
        # the robots the plan keeps re-plan where they are (incidents and charging go on), the ones it does not
        # use stop and stand by for alarms, the ones it adds join as they report; a hold outlives the change
        started = self.dispatcher.patrolling
        self.dispatcher.switch_plan(self._planner(wanted), now, keep=set(wanted.robots) or None)
        self.running_plan = wanted.id
        for live in self.rt.fleet.robots.values():
            self._feed(live, now)
        log.info("patrol plan %d (%s) running%s", wanted.id, wanted.name,
                 " (switched over without a stop)" if started else "")
        self.rt.live.event({"kind": "patrol", "plan": wanted.id, "running": True})

    def _planner(self, plan: PatrolPlanRow) -> Planner:
        cps = self.park.checkpoints
        chosen = [cps[c] for c in plan.checkpoints if c in cps] or list(cps.values())
        graph = self.base.graph
        checkpoints = [Checkpoint(c.waypoint, priority=visits_per_cycle(c.priority),
                                  target_interval_s=c.revisit_s or None) for c in chosen if c.waypoint in graph]
        return Planner(self.base.planner.paths, checkpoints or None, speed=1.0) if plan.checkpoints \
            else self.base.planner

    def _build(self) -> PatrolDispatcher:
        return PatrolDispatcher(self.base.planner, self.geometry, _Sink(self.rt), chargers=self.base.chargers,
                                on_visit=self._on_visit, on_incident_report=self._on_report,
                                on_incident_arrival=self._on_arrival, on_incident_assigned=self._on_assigned)

    # -- fleet -> dispatcher ---------------------------------------------------------------------
    def _eligible(self, live: RobotLive) -> bool:
        # every patrol dog: the running plan's patrol, the others stand by for incidents
        return live.kind is RobotKind.PATROL_DOG and live.factsheet is not None

    def _node_of(self, live: RobotLive) -> str | None:
        if live.last_node_id in self.base.graph:
            return live.last_node_id
        if live.x is None or live.y is None:
            return None
        wp = self.park.nearest_waypoint(live.x, live.y)
        if wp.id in self.base.graph and math.hypot(wp.x - live.x, wp.y - live.y) <= SNAP_TO_NODE_M:
            return wp.id
        return None

    def _feed(self, live: RobotLive, now: float) -> None:
        d = self.dispatcher
        if d is None or not self._eligible(live):
            return
        if not live.online or live.e_stop != "NONE":
            d.offline(live.robot_id, now)
            return
        try:
            fs = Factsheet.model_validate(live.factsheet)
        except ValueError:
            return
        d.register(RobotInfo.from_factsheet(live.robot_id, RobotId(live.manufacturer, live.serial_number), fs,
                                            version=live.version or "2.1.0"))
        d.update(RobotStatus(live.robot_id, live.order_id, self._node_of(live), live.last_node_sequence_id,
                             live.battery if live.battery is not None else 0.0, live.charging, live.driving,
                             {aid: st for aid, _, st in live.action_states}, len(live.node_ids_ahead),
                             live.order_update_id,
                             tuple((self.geometry.node_of(n), seq, rel) for n, seq, rel in live.order_nodes),
                             live.state_timestamp), now)

    def on_robot(self, change: RobotChange) -> None:
        try:
            self._feed(change.after, self.rt.clock.now())
        except Exception:
            log.exception("patrol dispatcher failed on a state of %s", change.after.robot_id)

    def _on_visit(self, visit: Visit) -> None:
        self.visits += 1
        checkpoint = self._by_waypoint.get(str(visit.node))
        if checkpoint is None:
            return
        if len(self._visits_out) == self._visits_out.maxlen:
            self.visits_dropped += 1  # the store has been away for long: the oldest unwritten visit goes
        self._visits_out.append({"at": utc_from_clock(visit.t), "checkpoint": checkpoint, "waypoint": str(visit.node),
                                 "robot_id": visit.robot_id, "interval_s": visit.interval_s,
                                 "plan_id": self.running_plan})

    async def _write_visits(self, rows: list[dict[str, Any]]) -> None:
        async with self.rt.store.sessions.begin() as s:
            await s.execute(insert(PatrolVisitRow), rows)
        self.visits_stored += len(rows)

    async def flush_visits(self) -> None:
        """Store the visits recorded since the last flush (kept by the store's write buffer while the
        database is away)."""
        if not self._visits_out:
            return
        rows = list(self._visits_out)
        self._visits_out.clear()
        await self.rt.store.writes.submit(f"{len(rows)} patrol visits", functools.partial(self._write_visits, rows))

    async def prune_visits(self, now: float) -> int:
        """Delete visits older than `fleet.visit_retention_days`; how many."""
        cutoff = utc_from_clock(now - self.rt.settings.fleet.visit_retention_days * 86400.0)
        async with self.rt.store.sessions.begin() as s:
            result = await s.execute(delete(PatrolVisitRow).where(PatrolVisitRow.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _seed_idleness(self, dispatcher: PatrolDispatcher) -> None:
        """The last stored visit of each checkpoint, so that idleness goes on counting across a restart."""
        latest = (select(PatrolVisitRow.checkpoint, func.max(PatrolVisitRow.at).label("at"))
                  .group_by(PatrolVisitRow.checkpoint).subquery())
        q = select(PatrolVisitRow).join(latest, and_(PatrolVisitRow.checkpoint == latest.c.checkpoint,
                                                     PatrolVisitRow.at == latest.c.at))
        async with self.rt.store.sessions() as s:
            rows = (await s.scalars(q)).all()
        for row in rows:
            cp = self.park.checkpoints.get(row.checkpoint)
            if cp is not None:
                dispatcher.monitor.seed(cp.waypoint, row.at.timestamp(), row.robot_id)

    async def visits_between(self, *, checkpoint: str | None, robot: str | None, since: datetime | None,
                             until: datetime | None, limit: int) -> list[PatrolVisitRow]:
        """Stored visits, newest first."""
        q = select(PatrolVisitRow).order_by(PatrolVisitRow.at.desc(), PatrolVisitRow.id.desc()).limit(limit)
        if checkpoint is not None:
            q = q.where(PatrolVisitRow.checkpoint == checkpoint)
        if robot is not None:
            q = q.where(PatrolVisitRow.robot_id == robot)
        if since is not None:
            q = q.where(PatrolVisitRow.at >= since)
        if until is not None:
            q = q.where(PatrolVisitRow.at <= until)
        async with self.rt.store.sessions() as s:
            return list((await s.scalars(q)).all())

    def _on_report(self, report: IncidentReport) -> None:
        """The dispatcher's word on an incident robot (done, failed, lost, recalled): kept, and written into
        the incident's timeline by the alarms with the photo it took (the dispatcher is synchronous: the
        writes run in the alarms' background)."""
        self.reports.append(report)
        del self.reports[:-100]
        alarms = self.rt.extras.get("alarms")
        if alarms is None or not report.incident_id.isdigit():
            return
        incident_id = int(report.incident_id)
        arrived = None if report.t_arrived is None else report.t_arrived - report.t_assigned
        live = self.rt.fleet.robots.get(report.robot_id)
        answered = dict(live.action_results) if live is not None else {}
        results = {kind: answered[aid] for kind, aid in report.action_ids.items() if aid in answered}
        alarms.background(alarms.robot_report(incident_id, report.robot_id, report.outcome, report.actions,
                                              arrived_s=arrived, on_task_s=report.t_done - report.t_assigned,
                                              next_robot=report.next_robot, results=results),
                          f"report of {report.robot_id} on incident {incident_id}")
        photo_id = report.action_ids.get("capturePhoto")
        url = answered.get(photo_id) if photo_id is not None else None
        photos = self.rt.extras.get("incident_photos")
        if url and photo_id and live is not None and photos is not None \
                and report.actions.get("capturePhoto") == "FINISHED":
            alarms.background(self._keep_photo(alarms, photos, incident_id, report.robot_id, photo_id, url,
                                               live.camera_url),
                              f"photo of {report.robot_id} on incident {incident_id}")

    @staticmethod
    async def _keep_photo(alarms: Any, photos: IncidentPhotos, incident_id: int, robot_id: str, action_id: str,
                          url: str, camera_url: str | None) -> None:
        """Copy the robot's photo into the incident's store and put it on the timeline."""
        try:
            path = await photos.fetch(incident_id, action_id, url, camera_url)
        except PhotoError as exc:
            log.warning("incident %d: photo of %s not kept: %s", incident_id, robot_id, exc)
            return
        await alarms.robot_photo(incident_id, robot_id, path, {"action_id": action_id, "source": url})

    def _on_assigned(self, incident: Incident, robot_id: str, waited_s: float) -> None:
        """A robot was free at last for an incident that waited for one."""
        alarms = self.rt.extras.get("alarms")
        if alarms is None or not incident.incident_id.isdigit():
            return
        alarms.background(alarms.robot_assigned(int(incident.incident_id), robot_id, waited_s),
                          f"robot {robot_id} sent to incident {incident.incident_id}")

    def _on_arrival(self, incident: Incident, robot_id: str, now: float) -> None:
        alarms = self.rt.extras.get("alarms")
        if alarms is None or not incident.incident_id.isdigit():
            return
        wp = self.park.waypoints.get(str(incident.node))
        alarms.background(alarms.robot_arrived(int(incident.incident_id), robot_id,
                                               wp.x if wp is not None else None, wp.y if wp is not None else None),
                          f"arrival of {robot_id} at incident {incident.incident_id}")

    async def recall(self, incident_id: int) -> str | None:
        """The alarms' recall hook: the incident closed, its robot (if still on it) goes back to patrol."""
        if self.dispatcher is None:
            return None
        return self.dispatcher.recall_incident(str(incident_id), self.rt.clock.now())

    async def request_dispatch(self, incident_id: int, x: float, y: float, zone: str | None,
                               severity: str) -> str | None:
        """The alarms' dispatch hook: the capable robot with the lowest route time goes to look."""
        if self.dispatcher is None:
            return None
        wp = self.park.nearest_waypoint(x, y)
        node = wp.id if wp.id in self.base.graph else None
        if node is None:
            return None
        a = self.dispatcher.dispatch_incident(Incident(str(incident_id), node, f"{severity} in {zone or '-'}"),
                                              self.rt.clock.now())
        return a.robot_id if a is not None else None

    def idleness(self) -> dict[str, dict[str, Any]]:
        if self.dispatcher is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for c in self.dispatcher.idleness(self.rt.clock.now()):
            cid = self._by_waypoint.get(str(c.node))
            if cid is not None:
                out[cid] = {"waypoint": c.node, "idleness_s": c.idle_s, "target_s": c.target_s,
                            "last_robot": c.last_robot, "overdue": c.overdue}
        return out

    async def run(self) -> None:
        last_reconcile = last_prune = -1e9
        try:
            while True:
                now = self.rt.clock.now()
                if now - last_reconcile >= 30.0:
                    last_reconcile = now
                    try:
                        await self.reconcile()
                    except Exception:
                        log.exception("patrol plan reconcile failed")
                if self.dispatcher is not None:
                    try:
                        self.dispatcher.tick(now)
                    except Exception:
                        log.exception("patrol dispatcher tick failed")
                    self.rt.live.mark("idleness", "all", self.idleness())
                try:
                    await self.flush_visits()
                    if now - last_prune > 3600.0 and not self.rt.store.writes.degraded:
                        last_prune = now
                        await self.prune_visits(now)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("storing patrol visits failed; that batch is lost, the patrol goes on")
                await self.rt.clock.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush_visits())


def patrol_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        svc = PatrolService(rt)
        await svc.ensure_default_plan()
        rt.fleet.listen(svc.on_robot)
        bridge = rt.extras.get("dispatch_bridge")
        if bridge is not None:
            bridge.target = svc
        rt.extras["patrol"] = svc
        return [svc.run]

    return Subsystem("patrol", setup)


# -- API ---------------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/patrol", tags=["patrol"])


def get_patrol(request: Request) -> PatrolService:
    svc: PatrolService = state_item(request, "patrol", PatrolService)
    return svc


PatrolDep = Annotated[PatrolService, Depends(get_patrol)]


def _public(row: PatrolPlanRow, svc: PatrolService) -> PlanPublic:
    return PlanPublic(id=row.id, name=row.name, checkpoints=list(row.checkpoints), schedule=row.schedule,
                      robots=list(row.robots), mode=PlanMode(row.mode), rank=row.rank,
                      running=row.id == svc.running_plan, updated_by=row.updated_by)


@router.get("/plans", response_model=list[PlanPublic])
async def list_plans(svc: PatrolDep, user: ViewerUser) -> list[PlanPublic]:
    return [_public(p, svc) for p in await svc.plans()]


@router.post("/plans", response_model=PlanPublic, status_code=201)
async def create_plan(body: PlanIn, svc: PatrolDep, user: SupervisorUser, client: ClientAddr) -> PlanPublic:
    svc.validate(body)
    async with svc.rt.store.sessions.begin() as s:
        row = PatrolPlanRow(**body.model_dump(), updated_at=datetime.now(UTC), updated_by=user.username)
        row.mode = body.mode.value
        s.add(row)
    await _audit(svc, user.username, user.role.value, "patrol.plan.create", f"plan:{row.id}", body.model_dump(),
                 client)
    await svc.reconcile()
    return _public(row, svc)


async def _set(svc: PatrolService, plan_id: DbId, changes: dict[str, Any], actor: str,
               replan: bool = False) -> PatrolPlanRow:
    async with svc.rt.store.sessions.begin() as s:
        row = await s.get(PatrolPlanRow, plan_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"plan_id: no plan {plan_id}")
        for k, v in changes.items():
            setattr(row, k, v)
        row.updated_at = datetime.now(UTC)
        row.updated_by = actor
    await svc.reconcile(replan)
    return row


@router.put("/plans/{plan_id}", response_model=PlanPublic, responses={404: {}})
async def update_plan(plan_id: DbId, body: PlanIn, svc: PatrolDep, user: SupervisorUser, client: ClientAddr
                      ) -> PlanPublic:
    svc.validate(body)
    changes = body.model_dump()
    changes["mode"] = body.mode.value
    row = await _set(svc, plan_id, changes, user.username, replan=svc.running_plan == plan_id)
    await _audit(svc, user.username, user.role.value, "patrol.plan.update", f"plan:{plan_id}", body.model_dump(),
                 client)
    return _public(row, svc)


@router.post("/plans/{plan_id}/start", response_model=PlanPublic, responses={404: {}})
async def start_plan(plan_id: DbId, svc: PatrolDep, user: SupervisorUser, client: ClientAddr) -> PlanPublic:
    row = await _set(svc, plan_id, {"mode": PlanMode.ON.value, "rank": 0}, user.username)
    await _audit(svc, user.username, user.role.value, "patrol.plan.start", f"plan:{plan_id}", {}, client)
    return _public(row, svc)


@router.post("/plans/{plan_id}/stop", response_model=PlanPublic, responses={404: {}})
async def stop_plan(plan_id: DbId, svc: PatrolDep, user: SupervisorUser, client: ClientAddr) -> PlanPublic:
    row = await _set(svc, plan_id, {"mode": PlanMode.OFF.value}, user.username)
    await _audit(svc, user.username, user.role.value, "patrol.plan.stop", f"plan:{plan_id}", {}, client)
    return _public(row, svc)


@router.get("/visits", response_model=list[VisitPublic], summary="Stored checkpoint visits, newest first")
async def visits(svc: PatrolDep, user: ViewerUser,
                 checkpoint: Annotated[str | None, Query(max_length=64)] = None,
                 robot: Annotated[str | None, Query(max_length=64)] = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> list[VisitPublic]:
    if checkpoint is not None and checkpoint not in svc.park.checkpoints:
        raise field_error("query", "checkpoint", f"{checkpoint!r} is not a checkpoint of the map")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise field_error("query", name, "give a time zone (e.g. 2026-03-16T22:00:00+08:00)")
    rows = await svc.visits_between(checkpoint=checkpoint, robot=robot, since=since, until=until, limit=limit)
    return [VisitPublic.model_validate(r) for r in rows]


class PatrolStatus(BaseModel):
    running_plan: int | None
    paused: bool
    robots: dict[str, str]
    visits: int
    checkpoints: dict[str, dict[str, Any]]


async def _hold(svc: PatrolService, user: OperatorUser, client: str, pause: bool) -> PatrolStatus:
    d = svc.dispatcher
    if d is None or svc.running_plan is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "no patrol is running")
    (d.pause if pause else d.resume)(svc.rt.clock.now())
    svc.rt.live.event({"kind": "patrol", "plan": svc.running_plan, "running": True, "paused": pause})
    await _audit(svc, user.username, user.role.value, "patrol.pause" if pause else "patrol.resume",
                 f"plan:{svc.running_plan}", {}, client)
    return _status(svc)


@router.post("/pause", response_model=PatrolStatus, responses={409: {}},
             summary="Hold the patrol: patrolling robots pause where they are (incidents and charging go on)")
async def pause_patrol(svc: PatrolDep, user: OperatorUser, client: ClientAddr) -> PatrolStatus:
    return await _hold(svc, user, client, True)


@router.post("/resume", response_model=PatrolStatus, responses={409: {}}, summary="Release a held patrol")
async def resume_patrol(svc: PatrolDep, user: OperatorUser, client: ClientAddr) -> PatrolStatus:
    return await _hold(svc, user, client, False)


@router.get("/idleness", response_model=PatrolStatus, summary="Live idleness per checkpoint against its target")
async def idleness(svc: PatrolDep, user: ViewerUser) -> PatrolStatus:
    return _status(svc)


def _status(svc: PatrolService) -> PatrolStatus:
    modes: dict[str, str] = {}
    if svc.dispatcher is not None:
        for rid in svc.rt.fleet.robots:
            try:
                modes[rid] = svc.dispatcher.mode(rid).value
            except KeyError:
                continue
    return PatrolStatus(running_plan=svc.running_plan, paused=svc.dispatcher is not None and svc.dispatcher.paused,
                        robots=modes, visits=svc.visits, checkpoints=svc.idleness())


async def _audit(svc: PatrolService, actor: str, role: str, action: str, target: str, detail: dict[str, Any],
                 remote: str) -> None:
    log_ = svc.rt.extras.get("audit")
    if log_ is not None:
        await log_.record(actor=actor, role=role, action=action, target=target, detail=detail, remote=remote)
