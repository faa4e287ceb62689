"""The patrol dispatcher: turns the plan into VDA 5050 orders and reacts to robots, alarms and batteries.

Plain and synchronous: feed it `update(status)` for every robot state, `offline()`, `tick()` on a
clock, `dispatch_incident()` for alarms; it emits orders and instant actions through a
`CommandSink`. Orders are released `base_ahead` nodes ahead of the robot with a horizon behind,
and extended by order updates as the robot progresses; holding the base is how a robot that runs
ahead of its slot waits for the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from patrol.dispatch.incident import Candidate, choose_robot, needed_pct
from patrol.dispatch.model import (
    BatteryPolicy,
    CommandSink,
    Incident,
    IncidentAssignment,
    IncidentReport,
    Mode,
    RobotInfo,
    RobotStatus,
)
from patrol.dispatch.orders import NodeGeometry, OrderStream
from patrol.planner.idleness import CheckpointIdleness, IdlenessMonitor, Visit
from patrol.planner.model import Node, PatrolPlan, RobotPosition, Strategy
from patrol.planner.planner import Planner
from patrol.planner.runtime import PatrolRuntime
from robots.vda5050.base import utc_now_from
from robots.vda5050.builders import build_instant_actions, make_action
from robots.vda5050.order import Action, Order

log = logging.getLogger(__name__)

HOLD_MIN_S = 0.5
STALL_S = 10.0
"""A robot on a patrol, incident or charger order that stands with its released base done this long after
our last order to it, while our books still hold released nodes, never got that order: it is
resynchronised from its report (and an incident or charger order goes again from where it stands)."""
TERMINAL = frozenset({"FINISHED", "FAILED"})


@dataclass
class _IncidentJob:
    incident: Incident
    assignment: IncidentAssignment
    action_ids: dict[str, str]  # actionId -> actionType
    t_assigned: float
    t_arrived: float | None = None
    on_arrival: list[Action] = field(default_factory=list)
    """Instant actions to send once the robot stands at the incident node."""


@dataclass
class _Robot:
    info: RobotInfo
    stream: OrderStream
    mode: Mode = Mode.IDLE
    status: RobotStatus | None = None
    prefix: int = 0
    horizon_dirty: bool = False
    job: _IncidentJob | None = None
    charger: Node | None = None
    charge_action_ids: set[str] = field(default_factory=set)
    resync: bool = False
    """Back from an outage (or found standing on an order it never got): the books follow its reports until
    its released base is done, then it joins."""
    stale_report: str | None = None  # the stamp of its last state before it went offline
    awaiting_state: bool = False  # back from an outage, no state from after it yet: its books are unknown
    sent_at: float = -math.inf  # when its last order went out
    docking: bool = False  # on its way to a charger as its dock, not for charge
    home_due: bool = False
    """Back from an incident while it is not on the patrol (none runs, or the plan does not use it): once it
    stands, it goes to a free charger (its dock) instead of staying at the scene."""


class PatrolDispatcher:
    def __init__(
        self,
        planner: Planner,
        geometry: NodeGeometry,
        sink: CommandSink,
        *,
        strategy: Strategy = Strategy.AUTO,
        chargers: Sequence[Node] = (),
        battery: BatteryPolicy | None = None,
        base_ahead: int = 2,
        horizon: int = 6,
        checkpoint_actions: Sequence[str] = ("capturePhoto",),
        on_visit: Callable[[Visit], None] | None = None,
        on_incident_report: Callable[[IncidentReport], None] | None = None,
        on_incident_arrival: Callable[[Incident, str, float], None] | None = None,
        on_incident_assigned: Callable[[Incident, str, float], None] | None = None,  # ..., seconds waited
        stall_s: float = STALL_S,
    ) -> None:
        if base_ahead < 1 or horizon < 0:
            raise ValueError(f"base_ahead must be >= 1 and horizon >= 0 (got {base_ahead}, {horizon})")
        self.planner = planner
        self.paths = planner.paths
        self.geometry = geometry
        self.sink = sink
        self.strategy = strategy
        self.runtime = PatrolRuntime(planner, strategy)
        self._on_visit = on_visit
        self.monitor = IdlenessMonitor(planner.checkpoints, on_visit)
        self.paths.require(chargers)
        self.chargers = list(chargers)
        self.battery = battery or BatteryPolicy()
        self.base_ahead = base_ahead
        self.horizon = horizon
        self.checkpoint_actions = tuple(checkpoint_actions)
        self.stall_s = stall_s
        self._checkpoints = {c.node for c in planner.checkpoints}
        self._on_report = on_incident_report
        self._on_arrival = on_incident_arrival
        self._on_assigned = on_incident_assigned
        self._waiting: dict[str, tuple[Incident, float]] = {}  # incident id -> (incident, waiting since)
        self._robots: dict[str, _Robot] = {}
        self._charger_use: dict[Node, str] = {}
        self._to_charger_m: np.ndarray | None = None  # per vertex, metres to the nearest charger
        self.patrolling = False
        self.paused = False
        self.members: frozenset[str] | None = None
        """The robots the running plan may use (None: any patrol dog). The others are the reserve: never on the
        patrol, but sent to incidents like everyone else, and back to a charger afterwards."""
        self.ignored_states = 0
        self.resyncs = 0  # robots found standing on an order they never got

    # -- fleet -----------------------------------------------------------------------------------
    def register(self, info: RobotInfo) -> None:
        if info.robot_id not in self._robots:
            self._robots[info.robot_id] = _Robot(info, OrderStream(info.vda, info.version, self.geometry))

    def mode(self, robot_id: str) -> Mode:
        return self._robots[robot_id].mode

    @property
    def plan(self) -> PatrolPlan | None:
        return self.runtime.plan

    def idleness(self, now: float) -> list[CheckpointIdleness]:
        return self.monitor.live(now)

    # -- patrol control --------------------------------------------------------------------------
    def start_patrol(self, now: float, robot_ids: Sequence[str] | None = None) -> PatrolPlan | None:
        """Plan for the given (default: every idle, located) robots where they stand, and send orders.

        While patrolling, an idle registered robot that reports a node joins by itself (only the given
        robots, when given: the others stay in reserve for incidents).
        """
        self.members = frozenset(robot_ids) if robot_ids is not None else None
        ids = robot_ids if robot_ids is not None else [rid for rid, r in self._robots.items() if r.mode is Mode.IDLE]
        ready = [
            self._robots[rid]
            for rid in ids
            if rid in self._robots and self._robots[rid].status is not None and self._robots[rid].mode is Mode.IDLE
        ]
        # (a robot still driving the rest of an order, or followed until it stands, joins when it stands)
        ready = [r for r in ready if r.status is not None and r.status.last_node is not None and not r.resync
                 and not r.stream.released]
        self.patrolling = True
        if not ready:
            # at start-up nobody has reported yet: that is no fault
            (log.warning if self._robots else log.info)(
                "patrol started without any located idle robot; robots join as they report")
            return None
        if self.runtime.robots:  # a patrol is running: these robots join it
            for r in ready:
                assert r.status is not None and r.status.last_node is not None
                self._join(r, r.status.last_node, now)
            return self.runtime.plan
        for r in ready:
            r.mode = Mode.PATROL
        plan = self.runtime.start([self._stand_position(r) for r in ready], now)
        for r in ready:
            self._new_patrol_order(r, now)
            if self.paused:  # an operator's hold outlives a time with no plan running
                self._instant(r, "startPause", now)
        return plan

    def switch_plan(self, planner: Planner, now: float, keep: Collection[str] | None = None) -> PatrolPlan | None:
        """Another patrol plan (other checkpoints or weights on the same graph) takes over without a stop:
        the patrolling robots re-plan from where their released routes end (none is cancelled or turns
        back), robots on an incident, on their way to a charger or charging go on and join the new plan
        afterwards, and checkpoints both plans watch keep their idleness.

        `keep`: the robots the new plan may use (None: any). The others go to the reserve: a patrolling
        one is sent `cancelOrder` and stops where it is, a busy one finishes its incident or charge first;
        all of them stay candidates for incidents.

        With no robot patrolling (no plan ran before), the idle robots the plan may use start where they
        stand, as `start_patrol` does."""
        if set(planner.paths.graph.nodes) != set(self.planner.paths.graph.nodes):
            raise ValueError("a plan switch keeps the patrol graph; build a new dispatcher for another graph")
        positions = self._patrol_positions(now)
        self.members = frozenset(keep) if keep is not None else None
        if keep is not None:
            for r in [r for rid, r in self._robots.items() if rid not in keep and r.mode is Mode.PATROL]:
                self._to_reserve(r, now)
            positions = {rid: p for rid, p in positions.items() if rid in keep}
        self.planner = planner
        self.paths = planner.paths
        self._to_charger_m = None
        self.runtime = PatrolRuntime(planner, self.strategy)
        monitor = IdlenessMonitor(planner.checkpoints, self._on_visit)
        monitor.carry_over(self.monitor)
        self.monitor = monitor
        self._checkpoints = {c.node for c in planner.checkpoints}
        if not positions:
            return self.start_patrol(now, list(keep) if keep is not None else None)
        self.patrolling = True
        plan = self.runtime.start(list(positions.values()), now)
        self._after_replan(now)
        return plan

    def member(self, robot_id: str) -> bool:
        """Whether the running plan may use the robot (it patrols when free); the others are in reserve."""
        return self.members is None or robot_id in self.members

    def _to_reserve(self, r: _Robot, now: float) -> None:
        """A patrolling robot the plan no longer uses: it stops where it is; its reports are the books until
        it stands."""
        self._instant(r, "cancelOrder", now)
        r.mode = Mode.IDLE
        r.resync = True
        log.info("robot %s leaves the patrol (the running plan does not use it); in reserve for incidents",
                 r.info.robot_id)

    def pause(self, now: float) -> None:
        """Hold the patrol: every patrolling robot gets `startPause` and no new base is released. Robots on
        an incident or a charger errand carry on; a robot sent to an incident later is un-paused."""
        self.paused = True
        for r in self._robots.values():
            if r.mode is Mode.PATROL:
                self._instant(r, "startPause", now)

    def resume(self, now: float) -> None:
        self.paused = False
        for r in self._robots.values():
            if r.mode is Mode.PATROL:
                self._instant(r, "stopPause", now)
        self.tick(now)

    def cancel(self, now: float) -> None:
        """Stop patrolling: cancel every patrol order. Robots on an incident or a charger errand carry on,
        and incidents are still dispatched (to any free robot)."""
        self.patrolling = False
        self.members = None
        for r in self._robots.values():
            if r.mode is Mode.PATROL:
                self._instant(r, "cancelOrder", now)
                r.stream.released.clear()  # the robot drops its remaining nodes
                r.mode = Mode.IDLE
        self.runtime.start([], now)

    # -- events ----------------------------------------------------------------------------------
    def update(self, status: RobotStatus, now: float) -> None:
        """A robot's state arrived (node ids already mapped to vertices)."""
        r = self._robots.get(status.robot_id)
        if r is None:
            log.warning("state from unregistered robot %s ignored; register it first", status.robot_id)
            return
        if status.last_node is not None and status.last_node not in self.paths:
            log.warning(
                "robot %s reports node %r that is not on the patrol graph; state ignored",
                status.robot_id,
                status.last_node,
            )
            self.ignored_states += 1
            return
        r.status = status
        if r.mode is Mode.OFFLINE:
            # back from an outage: which of our orders and updates reached it is unknown (one sent while the
            # broker was away may be lost, or come late), so its own report is the truth from here on
            r.mode = Mode.IDLE
            r.resync = r.awaiting_state = True
        if r.awaiting_state:
            if status.report is not None and status.report == r.stale_report:
                return  # the view from before the outage (a retained `connection` message): wait for a state
            r.awaiting_state = False
        for node in r.stream.progress(status.order_id, status.last_node_sequence_id):
            self.monitor.visit(node, r.info.robot_id, now)
            if r.mode is Mode.PATROL:
                self._reached_on_patrol(r, node, now)
        if r.mode in (Mode.PATROL, Mode.INCIDENT, Mode.TO_CHARGER) and self._stalled(r, status, now):
            log.warning("robot %s stands at the end of its base on order %s/%d while the dispatcher holds %s/%d "
                        "released=%s: an order was lost; resynchronising from its state", r.info.robot_id,
                        status.order_id, status.order_update_id, r.stream.order_id, r.stream.update_id,
                        list(r.stream.released))
            self.resyncs += 1
            if r.mode is Mode.PATROL:
                self._leave_patrol(r, now)
                r.mode = Mode.IDLE
                r.resync = True
            else:
                self._resync(r, status)  # it stands with its base done: the order to the target goes again
                self._reissue(r, now)
        if r.resync:
            self._resync(r, status)
        if r.mode is Mode.PATROL and status.driving:
            self.runtime.depart(r.info.robot_id, now)
        if r.mode is Mode.IDLE and status.last_node is not None and not r.stream.released and not r.resync:
            # (a robot still driving released nodes joins where they end: a new order must stitch there)
            self._when_free(r, status.last_node, now)
        elif r.mode is Mode.PATROL:
            if not self._battery_low(r, now):
                self._top_up(r, now)
            else:
                self._send_to_charger(r, now)
        elif r.mode is Mode.INCIDENT:
            self._check_incident(r, now)
        elif r.mode is Mode.TO_CHARGER:
            self._check_charger_arrival(r, now)
        elif r.mode is Mode.CHARGING and status.battery_pct >= self.battery.resume_pct:
            self._finish_charging(r, now)

    def order_view(self, robot_id: str) -> str | None:
        """The order bookkeeping of one robot, for diagnostics: order id, released and last reached nodes."""
        r = self._robots.get(robot_id)
        if r is None:
            return None
        s = r.stream
        return f"{s.order_id}/{s.update_id} released={list(s.released)} last={s.last} resync={r.resync}"

    def offline(self, robot_id: str, now: float) -> None:
        """The robot's connection broke (or it reports a fatal error): the others take over its share."""
        r = self._robots.get(robot_id)
        if r is None or r.mode is Mode.OFFLINE:
            return
        was = r.mode
        r.mode = Mode.OFFLINE
        r.stale_report = r.status.report if r.status is not None else None
        if was is Mode.PATROL:
            self._leave_patrol(r, now)
        if r.charger is not None:
            self._charger_use.pop(r.charger, None)
            r.charger = None
        if was is Mode.INCIDENT and r.job is not None:
            job = r.job
            r.job = None
            # another capable robot goes in its place; the report names it
            choice = self.dispatch_incident(job.incident, now)
            self._report(job, r, ok=False, now=now, states={}, outcome="offline",
                         next_robot=choice.robot_id if choice is not None else None)

    def recall_incident(self, incident_id: str, now: float) -> str | None:
        """The incident closed (its alarms cleared): the robot still on its way or on the scene is sent
        `cancelOrder` and rejoins the patrol where it stops. Its id, or None when no robot is on it."""
        self._waiting.pop(incident_id, None)
        r = next((r for r in self._robots.values()
                  if r.mode is Mode.INCIDENT and r.job is not None and r.job.incident.incident_id == incident_id),
                 None)
        if r is None or r.job is None:
            return None
        job, r.job = r.job, None
        states = {job.action_ids[a]: s for a, s in (r.status.action_states.items() if r.status else ())
                  if a in job.action_ids}
        self._instant(r, "cancelOrder", now)
        # it stops where it is (mid-edge perhaps): its own reports are the books until it stands, then it
        # joins the patrol at the node it last passed (or, not on the patrol, goes back to a charger)
        r.mode = Mode.IDLE
        r.resync = True
        r.home_due = True
        self._report(job, r, ok=False, now=now, states=states, outcome="recalled")
        return r.info.robot_id

    def tick(self, now: float) -> None:
        """Release held bases whose wait is over, send robots to incidents waiting for one; call every
        second or so."""
        for r in self._robots.values():
            if r.mode is Mode.PATROL:
                self._top_up(r, now)
        if self._waiting:
            self._send_waiting(now)

    def dispatch_incident(self, incident: Incident, now: float) -> IncidentAssignment | None:
        """Send the capable robot with the lowest route time; the patrol closes the gap behind it.

        When none can go now (all busy, offline or short of charge), the incident waits: the first robot
        that can is sent by `tick` (and `on_incident_assigned` says which), until `recall_incident`."""
        if incident.node not in self.paths:
            log.warning(
                "incident %s at %r: not a vertex of the patrol graph; nobody sent", incident.incident_id, incident.node
            )
            return None
        choice = self._send_to_incident(incident, now)
        if choice is not None:
            self._waiting.pop(incident.incident_id, None)
        elif incident.incident_id not in self._waiting:
            log.warning("incident %s: no capable robot with enough battery now; the first one free goes",
                        incident.incident_id)
            self._waiting[incident.incident_id] = (incident, now)
        return choice

    def waiting_incidents(self) -> list[str]:
        """Incidents no robot could take yet, oldest first."""
        return list(self._waiting)

    def _send_waiting(self, now: float) -> None:
        for incident_id, (incident, since) in list(self._waiting.items()):
            choice = self._send_to_incident(incident, now)
            if choice is None:
                return  # no robot free for the oldest: none for the later ones either (same candidates)
            del self._waiting[incident_id]
            log.info("incident %s: %s sent after %.0f s waiting for a robot", incident_id, choice.robot_id,
                     now - since)
            if self._on_assigned is not None:
                self._on_assigned(incident, choice.robot_id, now - since)

    def _send_to_incident(self, incident: Incident, now: float) -> IncidentAssignment | None:
        cands = []
        for r in self._robots.values():
            docking = r.mode is Mode.TO_CHARGER and r.docking  # on its way home, not for charge
            if (r.mode not in (Mode.PATROL, Mode.IDLE) and not docking) or r.status is None or r.awaiting_state:
                continue
            at, extra = self._base_end(r, now)
            if at is None:
                continue
            cands.append(Candidate(r.info, at, extra, r.status.battery_pct))
        choice = choose_robot(
            incident.incident_id,
            incident.node,
            cands,
            self.paths,
            self.chargers,
            reserve_pct=self.battery.reserve_pct,
            margin=self.battery.margin,
        )
        if choice is None:
            return None
        r = self._robots[choice.robot_id]
        if r.mode is Mode.PATROL:
            self._leave_patrol(r, now)
        if r.charger is not None:  # it was on its way home: the charger is free again
            self._charger_use.pop(r.charger, None)
            r.charger, r.docking = None, False
        if self.paused:  # the patrol is held; an alarm is not: this robot goes
            self._instant(r, "stopPause", now)
        r.mode = Mode.INCIDENT
        r.resync = False  # its books are its own report's: the incident order stitches onto them
        r.job = _IncidentJob(incident, choice, {}, now)
        self._incident_order(r, r.job, choice.route, now)
        return choice

    def _incident_order(self, r: _Robot, job: _IncidentJob, route: Sequence[Node], now: float) -> None:
        incident = job.incident
        acts = [
            make_action("scanArea", {"duration": 10.0}, description=f"incident {incident.incident_id}"),
            make_action("capturePhoto", {"label": incident.incident_id}),
        ]
        job.action_ids = {a.action_id: a.action_type for a in acts}
        job.on_arrival = []
        start = route[0]
        rest = list(route[1:]) if len(route) > 1 else []
        if not rest:
            # the incident is at the robot's base end: a one-node order stitched there ends the patrol, and
            # the actions go as instant actions once the robot stands there (node actions on a stitching
            # node do not run when the robot has passed it already; sent now, they would run on the way
            # and the robot would rejoin the patrol before it got there)
            order = r.stream.start(start, [], [], now, lambda v: (), tag="incident")
            job.on_arrival = acts
        else:
            order = r.stream.start(start, rest, [], now, lambda v: acts if v == incident.node else (), tag="incident")
        self._send(r, order, now)

    # -- patrol internals ------------------------------------------------------------------------
    def _active(self) -> list[_Robot]:
        return [r for r in self._robots.values() if r.mode not in (Mode.OFFLINE,)]

    def _stand_position(self, r: _Robot) -> RobotPosition:
        assert r.status is not None and r.status.last_node is not None
        return RobotPosition(r.info.robot_id, r.status.last_node)

    def _base_end(self, r: _Robot, now: float) -> tuple[Node | None, float]:
        """Where the robot's committed route ends and roughly how far it still has to drive to get there."""
        end = r.stream.base_end
        last = r.stream.last
        here = last[0] if last is not None else (r.status.last_node if r.status else None)
        if end is None:
            return here, 0.0
        metres = 0.0
        prev = here
        for v, _ in r.stream.released:
            if prev is not None:
                metres += self.paths.dist(prev, v)
            prev = v
        return end[0], metres

    def _patrol_positions(self, now: float, exclude: str | None = None) -> dict[str, RobotPosition]:
        out = {}
        for rid in self.runtime.robots:
            if rid == exclude:
                continue
            r = self._robots[rid]
            at, metres = self._base_end(r, now)
            if at is not None:
                # a released, unreached base end is ahead even when it lies on the robot's vertex
                released = [v for v, _ in r.stream.released]
                after = released[-2] if len(released) >= 2 else None
                if len(released) == 1 and r.stream.last is not None:
                    after = r.stream.last[0]
                out[rid] = RobotPosition(rid, at, max(metres, 1e-6) if r.stream.released else 0.0, after)
        return out

    def _after_replan(self, now: float) -> None:
        for rid in self.runtime.robots:
            r = self._robots[rid]
            r.prefix = len(r.stream.released)
            r.horizon_dirty = True
            self._top_up(r, now)

    def _join(self, r: _Robot, at: Node, now: float) -> None:
        if r.charger is not None:  # it leaves its charger
            self._charger_use.pop(r.charger, None)
            r.charger = None
        r.mode = Mode.PATROL
        positions = self._patrol_positions(now)
        self.runtime.add_robot(RobotPosition(r.info.robot_id, at), now, positions)
        self._new_patrol_order(r, now)
        if self.paused:  # it joins a held patrol: it holds too
            self._instant(r, "startPause", now)
        for rid in self.runtime.robots:
            if rid != r.info.robot_id:
                o = self._robots[rid]
                o.prefix = len(o.stream.released)
                o.horizon_dirty = True
                self._top_up(o, now)

    def _when_free(self, r: _Robot, at: Node, now: float) -> None:
        """An idle robot stands at `at` with nothing released: it joins the patrol when the running plan uses
        it; off the patrol, it goes to a free charger (its dock) when it is back from an incident or its
        charge would not take it to an alarm anywhere on the map and on to a charger; else it stands by."""
        if self.patrolling and self.member(r.info.robot_id):
            r.home_due = False
            self._join(r, at, now)
            return
        short = self._short_for_standby(r, at)
        if r.charger is not None:  # docked: it keeps its charger while it stands by, and charges there if short
            if short and r.charger == at:
                r.mode = Mode.CHARGING
                if "startCharging" in r.info.actions:
                    self._instant(r, "startCharging", now)
            return
        if short and self._free_chargers(evict=True):
            r.home_due = False
            self._send_to_charger(r, now, why="too little charge to answer an alarm anywhere")
        elif r.home_due and self._free_chargers():
            r.home_due = False
            self._send_to_charger(r, now, why="back from its incident, off the patrol", dock=True)

    def _short_for_standby(self, r: _Robot, at: Node) -> bool:
        """A robot standing by must be able to answer an alarm at the farthest vertex and then reach a charger,
        with the reserve left (a rule no charge could meet, on a map too large for one charge, is not applied)."""
        st = r.status
        if st is None or st.charging or not self.chargers or at not in self.paths:
            return False
        if self._to_charger_m is None:
            cols = [self.paths.index[c] for c in self.chargers]
            self._to_charger_m = self.paths.matrix[:, cols].min(axis=1)
        reach = float(np.max(self.paths.matrix[self.paths.index[at]] + self._to_charger_m))
        need = needed_pct(r.info, reach, self.battery.margin) + self.battery.reserve_pct
        return need <= self.battery.resume_pct and st.battery_pct < need

    def _leave_patrol(self, r: _Robot, now: float) -> None:
        positions = self._patrol_positions(now, exclude=r.info.robot_id)
        self.runtime.remove_robot(r.info.robot_id, now, positions)
        self._after_replan(now)

    def _new_patrol_order(self, r: _Robot, now: float) -> None:
        rid = r.info.robot_id
        at = self.runtime.position(rid, now).node
        up = self.runtime.upcoming(rid, self.base_ahead + self.horizon)
        r.prefix = 0
        r.horizon_dirty = False
        order = r.stream.start(at, up[: self.base_ahead], up[self.base_ahead :], now, self._actions_for(r))
        self._send(r, order, now)

    def _reached_on_patrol(self, r: _Robot, node: Node, now: float) -> None:
        if r.prefix > 0:
            r.prefix -= 1
            if r.prefix == 0:
                self.runtime.reached(r.info.robot_id, node, now)
            return
        self.runtime.reached(r.info.robot_id, node, now)

    def _top_up(self, r: _Robot, now: float) -> None:
        if self.paused or not self.runtime.has(r.info.robot_id):
            return
        rid = r.info.robot_id
        have = len(r.stream.released)
        want = max(0, self.base_ahead - have)
        if want and self.runtime.hold_s(rid, now) > HOLD_MIN_S:
            want = 0
        if not want and not r.horizon_dirty:
            return
        known = have - r.prefix + (1 if r.prefix > 0 else 0)
        up = self.runtime.upcoming(rid, known + want + self.horizon)
        base, hor = up[known : known + want], up[known + want :]
        order = r.stream.extend(base, hor, now, self._actions_for(r))
        r.horizon_dirty = False
        if base and r.stream.last is not None and have == 0:
            self.runtime.depart(rid, now)
        self._send(r, order, now)

    def _actions_for(self, r: _Robot) -> Callable[[Node], Sequence[Action]]:
        kinds = [k for k in self.checkpoint_actions if k in r.info.actions]

        def actions(node: Node) -> Sequence[Action]:
            if node not in self._checkpoints or not kinds:
                return ()
            return [make_action(k, {"label": f"checkpoint {node}"} if k == "capturePhoto" else None) for k in kinds]

        return actions

    def _send(self, r: _Robot, order: Order, now: float) -> None:
        r.sent_at = now
        self.sink.send_order(r.info.robot_id, order)

    # -- resynchronisation -----------------------------------------------------------------------
    def _stalled(self, r: _Robot, status: RobotStatus, now: float) -> bool:
        """It stands with its released base done while our books (after its progress) still hold released
        nodes, and nothing was sent to it for STALL_S: an order or update of ours never reached it."""
        base = status.base_ahead()
        if status.driving or base is None or base or now - r.sent_at < self.stall_s:
            return False
        return bool(r.stream.released)

    def _reissue(self, r: _Robot, now: float) -> None:
        """Send an incident or charger order again, from where the robot stands (books just resynchronised)."""
        at = r.stream.last[0] if r.stream.last is not None else None
        if at is None:
            return
        if r.mode is Mode.INCIDENT and r.job is not None:
            self._incident_order(r, r.job, self.paths.path(at, r.job.incident.node), now)
        elif r.mode is Mode.TO_CHARGER and r.charger is not None:
            order = r.stream.start(at, self.paths.path(at, r.charger)[1:], [], now, lambda v: (), tag="charge")
            self._send(r, order, now)

    def _resync(self, r: _Robot, status: RobotStatus) -> None:
        """Books from the robot's report; the resync ends when its released base is done and it stands."""
        base = status.base_ahead()
        last = (status.last_node, status.last_node_sequence_id) if status.last_node is not None else None
        known = [(v, seq) for v, seq in base if v is not None] if base is not None else []
        # nodes not on our graph cannot be booked: it drives them to their end all the same
        r.stream.adopt(status.order_id, status.order_update_id, last, known if base is not None and
                       len(known) == len(base) else [])
        done = not base if base is not None else status.nodes_ahead in (0, None)
        if done and not status.driving:
            r.resync = False

    def _instant(self, r: _Robot, action_type: str, now: float) -> str:
        action = make_action(action_type)
        msg = build_instant_actions(r.info.vda, [action], timestamp=utc_now_from(now), robot_version=r.info.version)
        self.sink.send_instant_actions(r.info.robot_id, msg)
        return action.action_id

    # -- incidents -------------------------------------------------------------------------------
    def _check_incident(self, r: _Robot, now: float) -> None:
        job, st = r.job, r.status
        if job is None or st is None:
            return
        if job.t_arrived is None and st.last_node == job.incident.node and not r.stream.released:
            job.t_arrived = now
            if self._on_arrival is not None:
                self._on_arrival(job.incident, r.info.robot_id, now)
            if job.on_arrival:
                self.sink.send_instant_actions(r.info.robot_id, build_instant_actions(
                    r.info.vda, job.on_arrival, timestamp=utc_now_from(now), robot_version=r.info.version))
                job.on_arrival = []
        states = {job.action_ids[a]: s for a, s in st.action_states.items() if a in job.action_ids}
        if len(states) == len(job.action_ids) and all(s in TERMINAL for s in states.values()):
            r.job = None
            ok = all(s == "FINISHED" for s in states.values())
            self._report(job, r, ok=ok, now=now, states=states, outcome="done" if ok else "failed")
            r.mode = Mode.IDLE
            r.home_due = True
            if st.last_node is not None and not r.stream.released:
                self._when_free(r, st.last_node, now)

    def _report(self, job: _IncidentJob, r: _Robot, ok: bool, now: float, states: dict[str, str],
                outcome: str, next_robot: str | None = None) -> None:
        report = IncidentReport(job.incident.incident_id, r.info.robot_id, ok, job.t_assigned, job.t_arrived,
                                now, states, outcome, next_robot, {t: a for a, t in job.action_ids.items()})
        log.info("incident %s: %s %s%s", report.incident_id, report.robot_id, outcome,
                 f", {next_robot} sent instead" if next_robot else "")
        if self._on_report is not None:
            self._on_report(report)

    # -- battery ---------------------------------------------------------------------------------
    def _free_chargers(self, evict: bool = False) -> list[Node]:
        """Chargers nobody is on or bound for; with `evict`, also those a robot only stands by on (docked, not
        charging): it makes way for a robot that needs the charge."""
        return [c for c in self.chargers if c not in self._charger_use or (evict and self._standing_by_on(c))]

    def _standing_by_on(self, charger: Node) -> bool:
        rid = self._charger_use.get(charger)
        r = self._robots.get(rid) if rid is not None else None
        return r is not None and r.mode is Mode.IDLE and r.charger == charger

    def _claim_charger(self, charger: Node, r: _Robot, now: float) -> None:
        occupant = self._charger_use.get(charger)
        if occupant is not None and occupant != r.info.robot_id:
            self._make_way(self._robots[occupant], now)
        self._charger_use[charger] = r.info.robot_id
        r.charger = charger

    def _make_way(self, o: _Robot, now: float) -> None:
        """A robot standing by on a charger another robot needs moves to the nearest vertex that is no charger."""
        at, o.charger = o.charger, None
        if at is None:
            return
        self._charger_use.pop(at, None)
        away = [v for v in self.paths.neighbours(at) if v not in self.chargers]
        if not away or o.stream.released:
            return
        step = min(away, key=lambda v: self.paths.dist(at, v))
        log.info("robot %s makes way on charger %r, standing by at %r", o.info.robot_id, at, step)
        self._send(o, o.stream.start(at, [step], [], now, lambda v: (), tag="standby"), now)

    def _battery_low(self, r: _Robot, now: float) -> bool:
        st = r.status
        free = self._free_chargers(evict=True)
        if st is None or not free or st.charging:
            return False
        rid = r.info.robot_id
        lap_m, lap_end = self.runtime.lap_remaining_m(rid)
        to_charger = min(self.paths.dist(lap_end, c) for c in free)
        whole_lap = needed_pct(r.info, self.runtime.lap_length_m(rid) + to_charger, self.battery.margin)
        if whole_lap + self.battery.reserve_pct > self.battery.resume_pct:
            # Not even a robot just back from charging could drive a whole lap (one long loop for a small team):
            # the lap rule would send it back to the charger soon after every charge. It patrols on until its
            # charge covers no more than the rest of its committed route and the way to a charger.
            end, ahead_m = self._base_end(r, now)
            if end is not None:
                lap_m, to_charger = ahead_m, min(self.paths.dist(end, c) for c in free)
        need = needed_pct(r.info, lap_m + to_charger, self.battery.margin) + self.battery.reserve_pct
        return st.battery_pct < need

    def _send_to_charger(self, r: _Robot, now: float, why: str = "battery low", dock: bool = False) -> None:
        at, _ = self._base_end(r, now)
        free = self._free_chargers(evict=not dock)
        if at is None or not free:
            return
        # a charger nobody stands on first; else one a robot only stands by on (it makes way)
        charger = min(free, key=lambda c: (c in self._charger_use, self.paths.dist(at, c)))
        if r.mode is Mode.PATROL:
            self._leave_patrol(r, now)
        self._claim_charger(charger, r, now)
        r.docking = dock
        r.mode = Mode.TO_CHARGER
        log.info("robot %s: %s, going to charger %r", r.info.robot_id, why, charger)
        route = self.paths.path(at, charger)
        order = r.stream.start(at, route[1:], [], now, lambda v: (), tag="charge")
        self._send(r, order, now)
        self._check_charger_arrival(r, now)

    def _check_charger_arrival(self, r: _Robot, now: float) -> None:
        st = r.status
        if st is None or r.charger is None or r.stream.released or st.last_node != r.charger:
            return
        r.mode = Mode.CHARGING
        if r.docking and st.battery_pct >= self.battery.resume_pct:
            self._finish_charging(r, now, charged=False)  # home with charge enough: it stands by there
            return
        if "startCharging" in r.info.actions:
            self._instant(r, "startCharging", now)

    def _finish_charging(self, r: _Robot, now: float, charged: bool = True) -> None:
        """Charged (or home with charge enough): it joins the patrol, or stands by on its charger, which stays
        its own until it leaves or makes way for a robot that needs the charge."""
        r.docking = False
        if charged and "stopCharging" in r.info.actions:
            self._instant(r, "stopCharging", now)
        r.mode = Mode.IDLE
        r.home_due = False  # it is at its dock
        if r.charger is not None:
            self._when_free(r, r.charger, now)
