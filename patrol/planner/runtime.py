"""Running a plan: each robot's route ahead, its progress, and the waits that keep robots evenly spaced.

`PatrolRuntime` is fed with arrivals (`reached`) and departures (`depart`) on any clock; it tells
which vertices come next (`upcoming`) and how long a robot should hold at a vertex (`hold_s`) so the
robots of a loop stay `length / k` apart. When the team changes it re-plans from the robots'
current positions: nobody goes back to a start point, the others re-space by waiting.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from patrol.planner import transient
from patrol.planner.model import Assignment, Loop, Node, PatrolPlan, RobotPosition, Strategy
from patrol.planner.planner import Planner
from patrol.planner.repartition import (
    REPLAN_BUDGET_S,
    SEARCH_S,
    STEADY_TOLERANCE,
    Candidate,
    best_candidate,
    local_candidates,
    plan_transient_m,
    recut_candidates,
)
from patrol.planner.reseat import first_intervals_m, reseat_single_loops
from patrol.planner.transient import detour_placement, loop_ages_m, shortcut_placement

log = logging.getLogger(__name__)

REPLAN_CAP_S = 0.8
"""Wall-clock cap on a drop-out re-plan's searches together (shortcuts, detours, re-cuts); the
re-plan itself (the planner's loops and seating) comes on top and takes milliseconds."""

REJOIN_LOOKAHEAD = 12
"""An arrival this many route vertices ahead is taken as progress; beyond, the robot is re-routed."""


@dataclass
class _Track:
    assignment: Assignment
    loop: Loop
    last: Node | None
    a_last: float
    prev: Node | None
    t_depart: float | None
    route: deque[tuple[Node, float]] = field(default_factory=deque)
    next_walk: int = 0
    laps: int = 0


class PatrolRuntime:
    """Live state of one patrol; plain and synchronous, safe to drive from the simulator or the dispatcher."""

    reseat_partitions = True
    """Seat survivors on a partition re-plan's loops for the shortest transient (`patrol.planner.reseat`);
    off, they are seated by the shortest way to the loops (as before; the benchmark's A side)."""

    repartition_locally = True
    """After a drop-out from a partition plan, also try re-plans that keep the loops away from the lost
    robot and cut only those near it again (`patrol.planner.repartition`); the one with the lowest
    predicted worst over transient and steady state is taken, its steady state within 2 % of the fresh
    plan's. Off: the fresh plan only (the drop-out A/B benchmark's A side)."""

    detours = True
    """After the shortcut search on a shared loop, search approach walks through waypoints (detours to
    the hole's oldest vertices; `patrol.planner.transient.detour_placement`); off: shortcuts only."""

    def __init__(
        self,
        planner: Planner,
        strategy: Strategy = Strategy.AUTO,
        on_replan: Callable[[PatrolPlan], None] | None = None,
    ) -> None:
        self.planner = planner
        self.strategy = strategy
        self.plan: PatrolPlan | None = None
        self._tracks: dict[str, _Track] = {}
        self._on_replan = on_replan
        self.replans = 0

    # -- plans -----------------------------------------------------------------------------------
    def start(self, robots: Sequence[RobotPosition], now: float) -> PatrolPlan:
        """Plan for these robots where they are and start following the plan."""
        if not robots:
            self.plan = None
            self._tracks.clear()
            return self._empty_plan()
        keep = self.plan.loops if self.plan is not None else ()
        plan = self.planner.plan(list(robots), self.strategy, keep)
        self.apply(plan, {r.robot_id: r for r in robots}, now)
        return plan

    def apply(self, plan: PatrolPlan, positions: dict[str, RobotPosition], now: float) -> None:
        """Follow `plan`; `positions` are where its robots are now (the plan's approaches start there)."""
        self.plan = plan
        self._tracks = {}
        for a in plan.assignments:
            pos = positions[a.robot_id]
            loop = plan.loops[a.loop_id]
            s = loop.arc[a.entry] - a.approach_m
            moving = pos.remaining_m > 0
            track = _Track(
                assignment=a,
                loop=loop,
                last=None if moving else pos.node,
                a_last=s,
                prev=pos.after,
                t_depart=now if moving else None,
            )
            acc = s + pos.remaining_m
            if moving:
                track.route.append((a.approach[0], acc))
            for prev, v in zip(a.approach[:-1], a.approach[1:], strict=True):
                acc += self.planner.paths.dist(prev, v)
                track.route.append((v, acc))
            # the approach ends on the entry vertex: the loop continues after it
            track.next_walk = loop.next_index(a.entry)
            track.laps = 1 if track.next_walk == 0 else 0
            self._tracks[a.robot_id] = track
        self.replans += 1
        if self._on_replan is not None:
            self._on_replan(plan)

    def positions(self, now: float) -> dict[str, RobotPosition]:
        return {rid: self.position(rid, now) for rid in self._tracks}

    def position(self, robot_id: str, now: float) -> RobotPosition:
        t = self._track(robot_id)
        if t.t_depart is None or not t.route:
            if t.last is not None:
                return RobotPosition(robot_id, t.last, 0.0, t.prev)
            node, a_next = self._peek(t)
            return RobotPosition(robot_id, node, max(0.0, a_next - t.a_last), t.prev)
        node, a_next = t.route[0]
        done = max(0.0, now - t.t_depart) * self.planner.speed
        came_from = t.last if t.last is not None else t.prev
        return RobotPosition(robot_id, node, max(0.0, a_next - t.a_last - done), came_from)

    def remove_robot(
        self, robot_id: str, now: float, positions: Mapping[str, RobotPosition] | None = None
    ) -> PatrolPlan | None:
        """A robot leaves (offline, incident, charging): the others re-plan from where they are.

        `positions` overrides where the others are taken to be (e.g. the end of their released route).
        Robots of a loop may take shortcuts to join it further ahead when that shortens the longest
        wait of a vertex in the transient (the hole the robot leaves), or detours through the hole's
        oldest vertices before joining (`detours`); see `patrol.planner.transient`.
        When every new loop has one robot (a partition re-plan), which robot takes which loop, where
        and which way round is chosen for the shortest transient; see `patrol.planner.reseat`.
        """
        if robot_id not in self._tracks:
            return self.plan
        began = time.perf_counter()
        current = self.positions(now)
        current.update(positions or {})
        others = [p for rid, p in current.items() if rid != robot_id and rid in self._tracks]
        if not others:
            self.plan = None
            self._tracks.clear()
            return None
        ages = self.idle_estimate_m(now)
        old = self.plan
        keep = old.loops if old is not None else ()
        plan = self.planner.plan(others, self.strategy, keep)
        plan = self._reseated(plan, others, ages, keep)
        plan = self._with_shortcuts(plan, others, ages, began + REPLAN_CAP_S)
        if self.repartition_locally and old is not None and old.strategy is Strategy.PARTITION:
            plan = self._repartitioned(plan, old, robot_id, others, ages, began)
        self.apply(plan, {p.robot_id: p for p in others}, now)
        return plan

    def idle_estimate_m(self, now: float) -> dict[Node, float]:
        """Metres since each loop vertex was last passed, estimated from where the robots are now."""
        ages: dict[Node, float] = {}
        for t in self._tracks.values():
            for v, d in loop_ages_m(t.loop, [self._u(t, now) + t.assignment.phase_m]).items():
                ages[v] = min(d, ages.get(v, d))
        return ages

    def _reseated(
        self, plan: PatrolPlan, robots: Sequence[RobotPosition], ages: dict[Node, float], keep: Sequence[Loop]
    ) -> PatrolPlan:
        """One robot per loop (a partition re-plan): seat robots for the lowest predicted first intervals."""
        one_each = len(plan.assignments) == len(plan.loops) and {a.loop_id for a in plan.assignments} == set(
            range(len(plan.loops))
        )
        if not self.reseat_partitions or not one_each:
            return plan
        by_id = {r.robot_id: r for r in robots}
        paths = self.planner.paths
        before = max(
            float(first_intervals_m(plan.loops[a.loop_id], by_id[a.robot_id], paths, ages)[a.entry])
            for a in plan.assignments
        )
        got = reseat_single_loops(plan.loops, [by_id[a.robot_id] for a in plan.assignments], paths, ages, keep)
        if got is None or got[2] >= before - 1e-6:
            return plan
        loops, assigns, after = got
        log.info("drop-out re-plan: robots re-seated on the loops cut the predicted transient worst from %.1f m "
                 "to %.1f m", before, after)
        return replace(plan, loops=tuple(loops), assignments=tuple(assigns))

    def _repartitioned(
        self,
        plan: PatrolPlan,
        old: PatrolPlan,
        lost: str,
        robots: Sequence[RobotPosition],
        ages: dict[Node, float],
        began: float,
    ) -> PatrolPlan:
        """The fresh plan, or a re-cut of the loops near the lost robot's when that predicts a lower worst."""
        by_id = {r.robot_id: r for r in robots}
        paths = self.planner.paths
        loop_of = {a.robot_id: set(old.loops[a.loop_id].walk) for a in old.assignments}
        moved = sum(1 for a in plan.assignments if loop_of.get(a.robot_id) != set(plan.loops[a.loop_id].walk))
        fresh = Candidate(plan, plan_transient_m(plan, by_id, paths, ages), moved)
        limit = plan.predicted_worst_s * (1 + STEADY_TOLERANCE)
        tour, priority = self.planner.tour(), self.planner.priority
        deadline = min(time.perf_counter() + SEARCH_S, began + REPLAN_BUDGET_S)
        cands = recut_candidates(old, robots, tour, priority, paths, ages, limit, deadline)
        cands += local_candidates(old, lost, robots, tour, priority, paths, ages, limit, deadline)
        best = best_candidate(fresh, cands)
        if best is fresh:
            return plan
        log.info("drop-out re-plan: %s predicts a worst of %.1f s (fresh plan %.1f s); steady %.1f s (fresh "
                 "%.1f s), %d robots change loops (fresh %d)", best.how, best.worst_s, fresh.worst_s,
                 best.plan.predicted_worst_s, plan.predicted_worst_s, best.moved, moved)
        if time.perf_counter() > began + REPLAN_BUDGET_S:
            return best.plan
        shortcut = self._with_shortcuts(best.plan, robots, ages, began + REPLAN_CAP_S)
        # the shortcut search scores with the cheaper prediction: keep its moves only where they hold up
        if plan_transient_m(shortcut, by_id, paths, ages) < best.transient_m - 1e-6:
            return shortcut
        return best.plan

    def _with_shortcuts(
        self, plan: PatrolPlan, robots: Sequence[RobotPosition], ages: dict[Node, float], until: float
    ) -> PatrolPlan:
        """Shortcuts, then detours, on each loop shared by several robots; all searches stop by `until`."""
        by_id = {r.robot_id: r for r in robots}
        assigns = list(plan.assignments)
        detours_until: float | None = None  # one cap for the detour searches of all loops
        for loop_id, loop in enumerate(plan.loops):
            mine = [a for a in assigns if a.loop_id == loop_id]
            if len(mine) < 2:
                continue
            group = [by_id[a.robot_id] for a in mine]
            better, before, after = shortcut_placement(loop, loop_id, group, self.planner.paths, ages, until)
            if after >= before - 1e-6:
                better, after = mine, before
            if self.detours:
                if detours_until is None:
                    detours_until = min(time.perf_counter() + transient.DETOUR_S, until)
                detoured, _, worst = detour_placement(
                    loop, loop_id, group, self.planner.paths, ages, better, deadline=detours_until
                )
                if worst < after - 1e-6:
                    log.info("drop-out re-plan, loop %d: detours cut the predicted transient worst from %.1f m "
                             "to %.1f m", loop_id, after, worst)
                    better, after = detoured, worst
            if after < before - 1e-6:
                log.info("drop-out re-plan, loop %d: shortcuts and detours cut the predicted transient worst "
                         "from %.1f m to %.1f m", loop_id, before, after)
                assigns = [a for a in assigns if a.loop_id != loop_id] + better
        return replace(plan, assignments=tuple(assigns))

    def add_robot(
        self, robot: RobotPosition, now: float, positions: Mapping[str, RobotPosition] | None = None
    ) -> PatrolPlan:
        """A robot joins (new, back from charging or an incident): everyone re-plans from where they are."""
        current = self.positions(now)
        current.update({k: v for k, v in (positions or {}).items() if k in self._tracks})
        current[robot.robot_id] = robot
        return self.start(list(current.values()), now)

    def lap_remaining_m(self, robot_id: str) -> tuple[float, Node]:
        """Metres from the robot's last vertex to the end of its current lap, and the lap's end vertex."""
        t = self._track(robot_id)
        entry_arc = t.loop.arc[t.assignment.entry]
        done = (t.a_last - entry_arc) % t.loop.length if t.loop.length > 0 else 0.0
        return max(0.0, t.loop.length - done), t.loop.walk[t.assignment.entry]

    def lap_length_m(self, robot_id: str) -> float:
        """Metres of one whole lap of the robot's loop."""
        return self._track(robot_id).loop.length

    @property
    def robots(self) -> list[str]:
        return list(self._tracks)

    def has(self, robot_id: str) -> bool:
        return robot_id in self._tracks

    # -- progress --------------------------------------------------------------------------------
    def upcoming(self, robot_id: str, count: int) -> list[Node]:
        """The next `count` vertices of the robot's route after its last reached vertex."""
        t = self._track(robot_id)
        self._extend(t, count)
        return [v for v, _ in list(t.route)[:count]]

    def reached(self, robot_id: str, node: Node, now: float) -> bool:
        """The robot reached `node`; False (and a re-route) when it is off its route."""
        t = self._track(robot_id)
        if t.last == node and t.t_depart is None:
            return True
        self._extend(t, REJOIN_LOOKAHEAD)
        for i, (v, a) in enumerate(list(t.route)[:REJOIN_LOOKAHEAD]):
            if v == node:
                for _ in range(i + 1):
                    before = t.route.popleft()[0]
                    if before != node:
                        t.last = before
                t.prev = t.last
                t.last, t.a_last, t.t_depart = node, a, None
                return True
        self._reroute(t, node)
        return False

    def depart(self, robot_id: str, now: float) -> None:
        """The robot leaves its vertex towards the next one on its route."""
        t = self._track(robot_id)
        if t.t_depart is None:
            t.t_depart = now

    def hold_s(self, robot_id: str, now: float) -> float:
        """Seconds to wait at the current vertex so that the loop's robots get back to even spacing."""
        t = self._track(robot_id)
        mates = [m for m in self._tracks.values() if m.assignment.loop_id == t.assignment.loop_id]
        if len(mates) < 2:
            return 0.0
        mine = self._u(t, now)
        lowest = min(self._u(m, now) for m in mates)
        return max(0.0, (mine - lowest) / self.planner.speed)

    def progress(self, robot_id: str, now: float) -> float:
        """Spacing coordinate: metres along the loop minus the robot's phase (equal for all when spaced)."""
        return self._u(self._track(robot_id), now)

    # -- internals -------------------------------------------------------------------------------
    def _u(self, t: _Track, now: float) -> float:
        a = t.a_last
        if t.t_depart is not None and t.route:
            a = min(t.route[0][1], a + max(0.0, now - t.t_depart) * self.planner.speed)
        return a - t.assignment.phase_m

    def _peek(self, t: _Track) -> tuple[Node, float]:
        self._extend(t, 1)
        return t.route[0]

    def _extend(self, t: _Track, count: int) -> None:
        loop = t.loop
        while len(t.route) < count:
            i = t.next_walk
            a = loop.arc[i] + t.laps * loop.length
            t.route.append((loop.walk[i], a))
            t.next_walk = loop.next_index(i)
            if t.next_walk == 0:
                t.laps += 1

    def _reroute(self, t: _Track, node: Node) -> None:
        """Off route at `node`: rejoin the loop at its nearest vertex, keeping progress continuous."""
        paths = self.planner.paths
        loop = t.loop
        e = min(range(len(loop.walk)), key=lambda i: paths.dist(node, loop.walk[i]))
        d = paths.dist(node, loop.walk[e])
        log.info("robot %s off its route at %r: rejoining at %r", t.assignment.robot_id, node, loop.walk[e])
        base = loop.arc[e] - d
        laps = round((t.a_last - base) / loop.length) if loop.length > 0 else 0
        start = base + laps * loop.length
        t.route.clear()
        acc = start
        approach = paths.path(node, loop.walk[e])
        for prev, v in itertools.pairwise(approach):
            acc += paths.dist(prev, v)
            t.route.append((v, acc))
        t.prev = t.last
        t.last, t.a_last, t.t_depart = node, start, None
        t.next_walk = loop.next_index(e)
        t.laps = laps + (1 if t.next_walk == 0 else 0)

    def _track(self, robot_id: str) -> _Track:
        try:
            return self._tracks[robot_id]
        except KeyError:
            raise KeyError(f"robot {robot_id!r} is not on this patrol") from None

    def _empty_plan(self) -> PatrolPlan:
        return PatrolPlan(self.strategy, (), (), float("inf"), 0.0, self.planner.speed)
