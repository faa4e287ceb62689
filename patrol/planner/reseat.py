"""After a drop-out on a partition plan: which survivor takes which loop, where and which way round.

A re-plan for one robot fewer cuts the tour again, so most loops are new and each gets one robot.
The planner seats robots by the shortest total way to the loops; what the drop-out transient needs
is the lowest worst first interval: a loop vertex last passed `age` metres ago (by the old plan) is
next passed when its new robot, after its approach, drives round to it. For one robot on a loop,
entering at walk index e (approach d_e metres from where it is now), vertex v is first reached at
`d_e + (arc(v) - arc(e)) mod length`, so its interval is `age(v)` plus that. For every robot, loop,
entry and (where the loop is new to the robots) direction this is one matrix; the seats then come
from a bottleneck assignment (lowest worst over all loops, then the lowest sum among those).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ortools.graph.python import linear_sum_assignment

from patrol.planner.model import Assignment, Loop, Node, RobotPosition
from patrol.planner.paths import ShortestPaths
from patrol.planner.placement import orient_like, reverse_loop

_BIG = 10**12


def first_intervals_m(
    loop: Loop, robot: RobotPosition, paths: ShortestPaths, ages_m: Mapping[Node, float]
) -> np.ndarray:
    """Worst first interval (metres) of the loop's vertices for the robot entering at each walk index.

    Only loop visits count (vertices passed on the approach are left out: the prediction errs high).
    """
    n = len(loop.walk)
    walk_i = np.asarray([paths.index[v] for v in loop.walk])
    arc = np.asarray(loop.arc)
    d = paths.matrix[paths.index[robot.node], walk_i] + robot.remaining_m
    if loop.length <= 0:
        lone: np.ndarray = d + np.asarray([ages_m.get(v, 0.0) for v in loop.walk])
        return lone
    ahead = np.mod(arc[None, :] - arc[:, None], loop.length)  # [entry, j]
    # standing on its entry: that vertex is passed already, the next time is a lap later
    ahead[np.arange(n), np.arange(n)] = np.where(d > 0, 0.0, loop.length)
    t = d[:, None] + ahead
    uniq, col = np.unique(walk_i, return_inverse=True)
    first = np.full((n, len(uniq)), np.inf)
    np.minimum.at(first, (np.arange(n)[:, None], col[None, :]), t)
    age = np.asarray([ages_m.get(paths.nodes[i], 0.0) for i in uniq])
    out: np.ndarray = (first + age[None, :]).max(axis=1)
    return out


def _best_entry(
    options: Sequence[Loop], robot: RobotPosition, paths: ShortestPaths, ages_m: Mapping[Node, float]
) -> tuple[float, int, int]:
    """(worst first interval, option index, entry) of the robot's best way onto one of the loop's orientations."""
    best = (np.inf, 0, 0)
    for k, loop in enumerate(options):
        worst = first_intervals_m(loop, robot, paths, ages_m)
        e = int(np.argmin(worst))
        if worst[e] < best[0] - 1e-9:
            best = (float(worst[e]), k, e)
    return best


def reseat_single_loops(
    loops: Sequence[Loop],
    robots: Sequence[RobotPosition],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    keep: Sequence[Loop] = (),
) -> tuple[list[Loop], list[Assignment], float] | None:
    """One robot per loop, seated for the lowest predicted worst first interval (metres).

    Returns the loops (some maybe driven the other way round), one assignment per robot and the
    predicted worst; None unless there are as many robots as loops. A loop the robots already drive
    (in `keep`) keeps its direction.
    """
    if not loops or len(loops) != len(robots):
        return None
    options: list[list[Loop]] = []
    for loop in loops:
        oriented, fixed = orient_like(loop, keep)
        options.append([oriented] if fixed or len(loop.walk) <= 2 else [oriented, reverse_loop(oriented)])
    k = len(loops)
    cost = np.zeros((k, k))
    how: dict[tuple[int, int], tuple[int, int]] = {}
    for i, r in enumerate(robots):
        for j in range(k):
            worst, o, e = _best_entry(options[j], r, paths, ages_m)
            cost[i, j] = worst
            how[i, j] = (o, e)
    if not np.isfinite(cost).all():  # a loop no survivor can reach: leave the planner's seats
        return None
    seats = _bottleneck_assignment(cost)
    out_loops = list(loops)
    assigns: list[Assignment] = []
    for i, j in enumerate(seats):
        o, e = how[i, j]
        loop = options[j][o]
        out_loops[j] = loop
        r = robots[i]
        d = paths.dist(r.node, loop.walk[e]) + r.remaining_m
        assigns.append(Assignment(r.robot_id, j, e, tuple(paths.path(r.node, loop.walk[e])), d, loop.arc[e] - d))
    worst = max(float(cost[i, j]) for i, j in enumerate(seats))
    return out_loops, assigns, worst


def _bottleneck_assignment(cost: np.ndarray) -> list[int]:
    """Column for each row: the lowest largest cost, then the lowest sum among those (costs >= 0)."""
    levels = np.unique(cost)
    lo, hi = 0, len(levels) - 1
    best = _assign(cost, float(levels[hi]))
    assert best is not None  # every pairing is allowed at the top level
    while lo < hi:
        mid = (lo + hi) // 2
        got = _assign(cost, float(levels[mid]))
        if got is None:
            lo = mid + 1
        else:
            hi, best = mid, got
    return best


def _assign(cost: np.ndarray, limit: float) -> list[int] | None:
    n = cost.shape[0]
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    for i in range(n):
        for j in range(n):
            c = float(cost[i, j])
            solver.add_arc_with_cost(i, j, round(c * 1000) if c <= limit + 1e-9 else _BIG)
    if solver.solve() != solver.OPTIMAL:
        return None
    seats = [solver.right_mate(i) for i in range(n)]
    if any(cost[i, j] > limit + 1e-9 for i, j in enumerate(seats)):
        return None
    return seats
