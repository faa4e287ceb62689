"""After a drop-out on a partition plan: re-cut only the loops next to the lost robot's.

A fresh partition for one robot fewer cuts the whole tour again: most loops change and robots far
from the lost one move too, each leaving vertices behind whose idleness keeps growing until the new
loop's robot comes round. Often a cut of just the lost robot's loop and a few loops next to it,
among the robots already there, is as good in steady state and much shorter in the transient: the
other loops keep their robots where they are.

Candidates: the lost robot's loop together with nearby loops (the nearest few in every combination,
then growing by the nearest), each region's checkpoints cut again (in the order of the planner's
tour) into as many loops as it keeps robots, or into fewer loops shared by several robots. A loop
that had several robots may also be cut for its survivors alone (the ring case: a loop that keeps
two of three robots leaves a hole of two thirds of a lap; two halves with a robot each may not).

Each candidate is seated (one robot per loop: `reseat_single_loops`; shared loops: the planner's
placement) and scored by the predicted worst interval over the transient and the steady state
together. Only candidates whose steady state stays within `STEADY_TOLERANCE` of the fresh plan's
are taken, so the ratio to the steady state is not bought with a worse steady state beyond that.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from patrol.planner.loops import build_loop, insert_priority_visits, predicted_worst
from patrol.planner.model import Assignment, Loop, Node, PatrolPlan, RobotPosition, Strategy
from patrol.planner.partition import cuts_near_optimal, improve_tour, split_tour
from patrol.planner.paths import ShortestPaths
from patrol.planner.placement import orient_like, place_on_loop, robots_to_loops
from patrol.planner.reseat import first_intervals_m, reseat_single_loops
from patrol.planner.transient import predict_worst_m

STEADY_TOLERANCE = 0.02
"""A candidate's steady-state worst may exceed the fresh plan's by at most this fraction."""
NEAREST_COMBINED = 4
"""The lost loop is tried with every combination of this many nearest loops ..."""
GROW_TO = 8
"""... and with the nearest loops added one by one up to this many loops in all."""
FEWER_LOOPS = 2
"""A region keeping k robots is cut into k, k-1, ... down to k - FEWER_LOOPS loops (shared ones)."""
RECUT_SLACKS = (0.0, 0.02)
"""Fresh cuts of the whole tour tried: every greedy cut within these fractions of the best cut's bound."""
SEARCH_S = 0.35
"""Wall-clock cap on the candidate search (the re-plan must stay under 1 s on a loaded machine) ..."""
REPLAN_BUDGET_S = 0.5
"""... and it ends this long after the re-plan began at the latest (the fresh plan's own shortcut
search may have used up to 0.25 s per shared loop before); past it, no shortcut search follows."""


@dataclass(frozen=True)
class Candidate:
    plan: PatrolPlan
    transient_m: float
    """Predicted worst first interval (metres) over all loops."""
    moved: int
    """Robots seated on a loop other than the one they drove."""
    how: str = "fresh plan"

    @property
    def worst_s(self) -> float:
        """Predicted worst interval over the transient and the steady state (seconds)."""
        return max(self.transient_m / self.plan.speed, self.plan.predicted_worst_s)


def plan_transient_m(
    plan: PatrolPlan, robots: Mapping[str, RobotPosition], paths: ShortestPaths, ages_m: Mapping[Node, float]
) -> float:
    """Predicted worst first interval (metres) of the plan's loops, each served by its own robots only.

    Robots on an edge are taken to reach the vertex they head for first (then hold there if ahead):
    the shortcut search's cheaper prediction dates that visit at the robot's evenly spaced time,
    which hides the long wait of that vertex after it (DIAG_labs N=8: 16.7 m predicted, 23.9 m measured).
    """
    worst = 0.0
    for i, loop in enumerate(plan.loops):
        mine = plan.robots_on(i)
        if not mine:
            continue
        if len(mine) == 1:
            a = mine[0]
            w = float(first_intervals_m(loop, robots[a.robot_id], paths, ages_m)[a.entry])
        else:
            w = predict_worst_m(loop, mine, paths, ages_m)
        worst = max(worst, w)
    return worst


def regions(loops: Sequence[Loop], counts: Sequence[int], lost: int, paths: ShortestPaths) -> list[tuple[int, ...]]:
    """Sets of loop ids around the lost robot's loop `lost` to cut again (nearest first, no repeats)."""
    n = len(loops)
    idx = [np.asarray([paths.index[v] for v in lp.walk]) for lp in loops]
    gap = np.full(n, np.inf)
    for j in range(n):
        if j != lost:
            gap[j] = float(paths.matrix[np.ix_(idx[lost], idx[j])].min())
    near = [int(j) for j in np.argsort(gap, kind="stable") if j != lost]
    out: list[tuple[int, ...]] = []
    if counts[lost] >= 2:
        out.append((lost,))
    head = near[:NEAREST_COMBINED]
    for size in range(1, len(head) + 1):
        for combo in itertools.combinations(head, size):
            out.append((lost, *combo))
    # growing by the loop nearest to the region so far
    region = [lost]
    rest = set(near)
    while rest and len(region) < GROW_TO:
        sub = np.concatenate([idx[j] for j in region])
        j = min(rest, key=lambda m: (float(paths.matrix[np.ix_(sub, idx[m])].min()), m))
        region.append(j)
        rest.discard(j)
        out.append(tuple(region))
    seen: set[frozenset[int]] = set()
    unique: list[tuple[int, ...]] = []
    for r in out:
        key = frozenset(r)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


def local_candidates(
    plan: PatrolPlan,
    lost_robot: str,
    robots: Sequence[RobotPosition],
    tour: Sequence[Node],
    priority: Mapping[Node, int],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    steady_limit_s: float,
    deadline: float | None = None,
) -> list[Candidate]:
    """Re-plans that keep the loops away from the lost robot and cut the ones near it again.

    `plan` is the plan the robots drive now (with `lost_robot`); `robots` the survivors where they
    are. Only candidates with a predicted steady state <= `steady_limit_s` are returned.
    """
    if deadline is None:
        deadline = time.perf_counter() + SEARCH_S
    by_id = {r.robot_id: r for r in robots}
    loop_of = {a.robot_id: a.loop_id for a in plan.assignments}
    if lost_robot not in loop_of or any(r not in loop_of for r in by_id):
        return []
    lost = loop_of[lost_robot]
    counts = [0] * len(plan.loops)
    for rid in by_id:
        counts[loop_of[rid]] += 1
    old_counts = [len(plan.robots_on(i)) for i in range(len(plan.loops))]
    keep = plan.loops
    speed = plan.speed
    position = {v: i for i, v in enumerate(tour)}
    out: list[Candidate] = []
    seen: set[tuple[frozenset[int], frozenset[frozenset[Node]]]] = set()
    for region in regions(plan.loops, old_counts, lost, paths):
        if time.perf_counter() > deadline:
            break
        members = [rid for rid in by_id if loop_of[rid] in region]
        if not members:
            continue
        stays = [i for i in range(len(plan.loops)) if i not in region]
        stay_loops = [(plan.loops[i], counts[i]) for i in stays]
        cps = {v for i in region for v in plan.loops[i].stops}
        order = sorted((v for v in cps if v in position), key=lambda v: position[v])
        order += [v for v in cps if v not in position]
        k = len(members)
        for parts in range(k, max(0, k - FEWER_LOOPS - 1), -1):
            if time.perf_counter() > deadline:
                break
            groups = split_tour(order, parts, paths)
            key = (frozenset(stays), frozenset(frozenset(g) for g in groups))
            if key in seen:
                continue
            seen.add(key)
            new_loops = [build_loop(insert_priority_visits(g, {v: priority.get(v, 1) for v in g}, paths), paths)
                         for g in groups]
            new_counts = _share(new_loops, k)
            steady = predicted_worst([*stay_loops, *zip(new_loops, new_counts, strict=True)], priority, speed)
            if steady > steady_limit_s + 1e-9:
                continue
            got = _seat(plan, stays, new_loops, new_counts, [by_id[m] for m in members], by_id, paths, ages_m, keep)
            if got is None:
                continue
            loops, assigns = got
            cand = PatrolPlan(Strategy.PARTITION, tuple(loops), tuple(assigns), steady, plan.tour_length_m, speed)
            moved = sum(1 for a in assigns if _moved(a, loops, plan, loop_of))
            how = f"{len(region)} loops near the lost one cut again into {len(groups)}"
            out.append(Candidate(cand, plan_transient_m(cand, by_id, paths, ages_m), moved, how))
    return out


def recut_candidates(
    plan: PatrolPlan,
    robots: Sequence[RobotPosition],
    tour: Sequence[Node],
    priority: Mapping[Node, int],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    steady_limit_s: float,
    deadline: float | None = None,
) -> list[Candidate]:
    """Other cuts of the whole tour for the survivors (one robot per loop), re-seated for the transient.

    The planner takes the first greedy cut at the best bound; others (other starting points, and at
    `RECUT_SLACKS` above the bound) have loops about as short, but their boundaries fall elsewhere:
    where the vertices a robot inherits from its neighbour were seen recently, the transient is short.
    """
    if deadline is None:
        deadline = time.perf_counter() + SEARCH_S
    k = len(robots)
    loop_of = {a.robot_id: a.loop_id for a in plan.assignments}
    by_id = {r.robot_id: r for r in robots}
    if k == 0 or any(rid not in loop_of for rid in by_id):
        return []
    built: dict[tuple[Node, ...], Loop] = {}
    seen: set[frozenset[frozenset[Node]]] = set()
    out: list[Candidate] = []
    for slack in RECUT_SLACKS:
        for groups in cuts_near_optimal(tour, k, paths, slack):
            if time.perf_counter() > deadline:
                return out
            key = frozenset(frozenset(g) for g in groups)
            if len(groups) != k or key in seen:
                continue
            seen.add(key)
            loops = []
            for g in groups:
                if tuple(g) not in built:
                    stops = insert_priority_visits(improve_tour(g, paths), {v: priority.get(v, 1) for v in g}, paths)
                    built[tuple(g)] = build_loop(stops, paths)
                loops.append(built[tuple(g)])
            steady = predicted_worst([(lp, 1) for lp in loops], priority, plan.speed)
            if steady > steady_limit_s + 1e-9:
                continue
            got = reseat_single_loops(loops, robots, paths, ages_m, plan.loops)
            if got is None:
                continue
            seated, assigns, _ = got
            cand = PatrolPlan(Strategy.PARTITION, tuple(seated), tuple(assigns), steady, plan.tour_length_m, plan.speed)
            moved = sum(1 for a in assigns if _moved(a, seated, plan, loop_of))
            how = f"another cut of the tour (within {slack:.0%} of the best bound)"
            out.append(Candidate(cand, plan_transient_m(cand, by_id, paths, ages_m), moved, how))
    return out


def _moved(a: Assignment, loops: Sequence[Loop], old: PatrolPlan, loop_of: Mapping[str, int]) -> bool:
    before = old.loops[loop_of[a.robot_id]]
    return set(before.walk) != set(loops[a.loop_id].walk)


def _share(loops: Sequence[Loop], robots: int) -> list[int]:
    """Robots per loop: one each, the rest where they cut the longest lap per robot (as the planner)."""
    counts = [1] * len(loops)
    for _ in range(robots - len(loops)):
        i = max(range(len(loops)), key=lambda m: loops[m].length / counts[m])
        counts[i] += 1
    return counts


def _seat(
    plan: PatrolPlan,
    stays: Sequence[int],
    new_loops: Sequence[Loop],
    new_counts: Sequence[int],
    members: Sequence[RobotPosition],
    by_id: Mapping[str, RobotPosition],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    keep: Sequence[Loop],
) -> tuple[list[Loop], list[Assignment]] | None:
    """Loops and assignments: the kept loops' robots stay on them, the region's are seated anew."""
    loops: list[Loop] = []
    assigns: list[Assignment] = []
    for i in stays:
        mine = [by_id[a.robot_id] for a in plan.robots_on(i) if a.robot_id in by_id]
        if not mine:
            continue
        placed, a, _ = place_on_loop(plan.loops[i], len(loops), mine, paths, fixed=True)
        loops.append(placed)
        assigns.extend(a)
    base = len(loops)
    if all(c == 1 for c in new_counts):
        got = reseat_single_loops(new_loops, members, paths, ages_m, keep)
        if got is None:
            return None
        seated, region_assigns, _ = got
        loops.extend(seated)
        assigns.extend(_shift(a, base) for a in region_assigns)
        return loops, assigns
    per_loop = robots_to_loops(new_loops, new_counts, members, paths)
    for j, (loop, group) in enumerate(zip(new_loops, per_loop, strict=True)):
        oriented, fixed = orient_like(loop, keep)
        placed, a, _ = place_on_loop(oriented, base + j, group, paths, fixed)
        loops.append(placed)
        assigns.extend(a)
    return loops, assigns


def _shift(a: Assignment, base: int) -> Assignment:
    return Assignment(a.robot_id, a.loop_id + base, a.entry, a.approach, a.approach_m, a.phase_m)


def best_candidate(fresh: Candidate, others: Sequence[Candidate]) -> Candidate:
    """The lowest predicted worst over transient and steady state; ties: lower steady, fewer moved."""
    def key(c: Candidate) -> tuple[float, float, int]:
        return round(c.worst_s, 6), round(c.plan.predicted_worst_s, 6), c.moved

    best = fresh
    for c in others:
        if key(c) < key(best):
            best = c
    return best
