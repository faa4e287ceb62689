"""Placing robots on loops: which loop, where they join it, and their phase offsets.

Robots keep their current positions: each joins its loop at the nearest loop vertex, and the
phases are chosen (rotation and direction) so that the spread to absorb by waiting is smallest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ortools.graph.python import linear_sum_assignment

from patrol.planner.model import Assignment, Loop, RobotPosition
from patrol.planner.paths import ShortestPaths


def reverse_loop(loop: Loop) -> Loop:
    """The same closed walk driven the other way round."""
    n = len(loop.walk)
    walk = (loop.walk[0], *reversed(loop.walk[1:]))
    arc = [0.0]
    for m in range(1, n):
        arc.append(arc[-1] + loop.step_length(n - m))
    return Loop(stops=(loop.stops[0], *reversed(loop.stops[1:])), walk=walk, arc=tuple(arc), length=loop.length)


def orient_like(loop: Loop, keep: Sequence[Loop]) -> tuple[Loop, bool]:
    """The loop in the direction robots already drive it (if one of `keep` is it); True when fixed so."""
    for k in keep:
        if k.length != loop.length or len(k.walk) != len(loop.walk):
            continue
        if set(k.walk) != set(loop.walk):
            continue
        if k.walk == loop.walk:
            return loop, True
        rev = reverse_loop(loop)
        if k.walk == rev.walk:
            return rev, True
    return loop, False


def place_on_loop(
    loop: Loop, loop_id: int, robots: Sequence[RobotPosition], paths: ShortestPaths, fixed: bool = False
) -> tuple[Loop, list[Assignment], float]:
    """Assignments for `robots` sharing `loop`; returns the loop (maybe reversed) and the waiting spread.

    Unless `fixed` (robots already drive it this way), both directions are tried.
    """
    best: tuple[float, Loop, list[Assignment]] | None = None
    loops = [loop] if fixed or len(robots) <= 1 or len(loop.walk) <= 2 else [loop, reverse_loop(loop)]
    for cand in loops:
        spread, assigns = _place_one_way(cand, loop_id, robots, paths)
        if best is None or spread < best[0] - 1e-9:
            best = (spread, cand, assigns)
    assert best is not None
    return best[1], best[2], best[0]


def nearest_entries(loop: Loop, robots: Sequence[RobotPosition], paths: ShortestPaths) -> list[int]:
    """Each robot's entry: the nearest loop vertex (where it stands, continuing the way it goes)."""
    walk_idx = [paths.index[v] for v in loop.walk]
    entries: list[int] = []
    for r in robots:
        dists = paths.matrix[paths.index[r.node], walk_idx]
        e = int(np.argmin(dists))
        if r.after is not None and dists[e] == 0.0:
            # the same vertex may be passed several times: continue the way the robot is going
            same_way = [j for j in np.flatnonzero(dists == 0.0) if loop.walk[j - 1] == r.after]
            if same_way:
                e = int(same_way[0])
        entries.append(e)
    return entries


def _place_one_way(
    loop: Loop, loop_id: int, robots: Sequence[RobotPosition], paths: ShortestPaths
) -> tuple[float, list[Assignment]]:
    return place_at_entries(loop, loop_id, robots, paths, nearest_entries(loop, robots, paths))


def place_at_entries(
    loop: Loop, loop_id: int, robots: Sequence[RobotPosition], paths: ShortestPaths, entry_idx: Sequence[int]
) -> tuple[float, list[Assignment]]:
    """Phases for robots that join `loop` at the given walk indices (by shortest path); returns the
    waiting spread and the assignments."""
    length = loop.length
    k = len(robots)
    entries = [
        (e, paths.dist(r.node, loop.walk[e]) + r.remaining_m) for r, e in zip(robots, entry_idx, strict=True)
    ]
    s = np.array([loop.arc[e] - d for e, d in entries])
    if k == 0:
        return 0.0, []
    if length <= 0 or k == 1:
        return 0.0, [
            Assignment(r.robot_id, loop_id, e, tuple(paths.path(r.node, loop.walk[e])), d, float(s_r))
            for r, (e, d), s_r in zip(robots, entries, s, strict=True)
        ]
    s_mod = np.mod(s, length)
    order = np.argsort(s_mod, kind="stable")
    spacing = length / k
    best_spread, best_rot = np.inf, 0
    for rot in range(k):
        idx = (rot + np.arange(k)) % k
        w = s_mod[order[idx]] + np.where(rot + np.arange(k) >= k, length, 0.0)
        u = w - np.arange(k) * spacing
        spread = float(u.max() - u.min())
        if spread < best_spread - 1e-9:
            best_spread, best_rot = spread, rot
    out: list[Assignment] = []
    for i in range(k):
        ri = int(order[(best_rot + i) % k])
        wrapped = best_rot + i >= k
        base = s[ri] - s_mod[ri]
        phase = float(base - (length if wrapped else 0.0) + i * spacing)
        e, d = entries[ri]
        r = robots[ri]
        out.append(Assignment(r.robot_id, loop_id, e, tuple(paths.path(r.node, loop.walk[e])), d, phase))
    return best_spread, out


def robots_to_loops(
    loops: Sequence[Loop], counts: Sequence[int], robots: Sequence[RobotPosition], paths: ShortestPaths
) -> list[list[RobotPosition]]:
    """Match robots to loop seats (`counts[i]` per loop) minimising the total way to the loops."""
    seats = [i for i, c in enumerate(counts) for _ in range(c)]
    cost = np.zeros((len(robots), len(seats)))
    for j, li in enumerate(seats):
        idx = [paths.index[v] for v in loops[li].walk]
        for i, r in enumerate(robots):
            cost[i, j] = paths.matrix[paths.index[r.node], idx].min() + r.remaining_m
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    for i in range(len(robots)):
        for j in range(len(seats)):
            solver.add_arc_with_cost(i, j, round(float(cost[i, j]) * 1000))
    if solver.solve() != solver.OPTIMAL:
        raise ValueError(f"cannot seat {len(robots)} robots on {len(seats)} loop places")
    out: list[list[RobotPosition]] = [[] for _ in loops]
    for i in range(len(robots)):
        out[seats[solver.right_mate(i)]].append(robots[i])
    return out
