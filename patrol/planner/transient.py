"""The transient after a robot drops out: predict it, and shorten it with shortcuts off the loop.

When a robot leaves, the survivors of its loop re-space to `length / k` by waiting; the vertices in
the hole it leaves were last visited about `length / (k + 1)` ago and the robot behind the hole is
as far behind along the loop, so following the loop their first visit comes `2 length / (k + 1)`
after the last. Only a shorter way there helps (1 m/s is every robot's speed): a robot may join the
loop further ahead, by the shortest path on the graph, when that gains on driving the loop.

Prediction (all in metres at the common speed): under the runtime's spacing rule (a robot holds
while its `progress - phase` is ahead of the lowest on its loop) every robot of a loop moves as if
it stood at `phase + min(progress - phase)`, evenly spaced, and only reaches what lies beyond its
own start. So robot i reaches loop arc position `a` (on its approach or after its entry) at
`a - phase_i - min_j(s_j - phase_j)`, with `s_j` its start on the loop's arc. A vertex's intervals
are its age (metres since its last visit, estimated from where the robots were before the drop-out)
plus its first visit, then the gaps between the visits that follow.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from patrol.planner.model import Assignment, Loop, Node, RobotPosition
from patrol.planner.paths import ShortestPaths
from patrol.planner.placement import nearest_entries, place_at_entries

MAX_EVALUATIONS = 400
"""Upper bound on predicted schedules per re-plan."""
SEARCH_S = 0.25
"""Wall-clock cap on the search (a loaded machine tries fewer moves; the re-plan stays under 1 s)."""
MAX_WORK = 300_000
"""And on evaluations x robots x loop vertices: big loops and teams try fewer moves."""
CANDIDATES_PER_ROBOT = 8


def predict_worst_m(
    loop: Loop,
    assignments: Sequence[Assignment],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    arrive_now: bool = False,
) -> float:
    """Worst predicted interval (metres) of the loop's vertices over the next lap after a re-plan."""
    return _predict(loop, assignments, paths, _age_array(paths, ages_m), arrive_now)[0]


def _age_array(paths: ShortestPaths, ages_m: Mapping[Node, float]) -> np.ndarray:
    out = np.zeros(len(paths.nodes))
    for v, d in ages_m.items():
        if v in paths:
            out[paths.index[v]] = d
    return out


def _predict(
    loop: Loop, assignments: Sequence[Assignment], paths: ShortestPaths, age_of: np.ndarray, arrive_now: bool = False
) -> tuple[float, float]:
    """(worst interval, total metres of intervals above the steady spacing) for these assignments."""
    if not assignments or loop.length <= 0:
        return 0.0, 0.0
    n = len(loop.walk)
    arc = np.asarray(loop.arc)
    arc3 = np.concatenate([arc, arc + loop.length, arc + 2 * loop.length])
    walk_i = np.asarray([paths.index[v] for v in loop.walk])
    walk3 = np.concatenate([walk_i, walk_i, walk_i])
    starts = np.array([loop.arc[a.entry] - a.approach_m for a in assignments])
    phases = np.array([a.phase_m for a in assignments])
    lead = phases + float(np.min(starts - phases))  # where each robot effectively is, evenly spaced
    horizon = loop.length + float(np.max(starts - lead))
    times: list[np.ndarray] = []
    nodes: list[np.ndarray] = []
    for a, s, p in zip(assignments, starts, lead, strict=True):
        legs = [paths.dist(u, v) for u, v in zip(a.approach[:-1], a.approach[1:], strict=True)]
        rem = a.approach_m - sum(legs)  # metres still to drive to approach[0]
        c = rem
        ap_t, ap_n = [], []
        for i, v in enumerate(a.approach):
            if i:
                c += legs[i - 1]
            if i or rem > 1e-9:  # the vertex it stands on is visited already
                # `arrive_now`: a robot on an edge drives on to the vertex it heads for (holding there
                # if it is ahead), so that visit is `rem` from now, not at its evenly spaced time
                ap_t.append(rem if i == 0 and arrive_now else s + c - p)
                ap_n.append(paths.index[v])
        times.append(np.asarray(ap_t, dtype=float))
        nodes.append(np.asarray(ap_n, dtype=int))
        seg = slice(a.entry + 1, a.entry + 1 + 2 * n)
        times.append(arc3[seg] - p)
        nodes.append(walk3[seg])
    t = np.concatenate(times)
    x = np.concatenate(nodes)
    keep = t <= horizon
    t, x = t[keep], x[keep]
    order = np.lexsort((t, x))
    t, x = t[order], x[order]
    first = np.ones(len(x), dtype=bool)
    first[1:] = x[1:] != x[:-1]
    gaps = np.diff(t, prepend=0.0)
    age = age_of[x[first]]
    gaps[first] = age + t[first]
    seen = set(x[first].tolist())
    unseen = np.array([age_of[i] + horizon for i in set(walk_i.tolist()) - seen])
    gaps = np.concatenate([gaps, unseen])
    worst = float(gaps.max()) if len(gaps) else 0.0
    excess = float(np.clip(gaps - loop.length / len(assignments), 0.0, None).sum())
    return worst, excess


def loop_ages_m(loop: Loop, progress_m: Sequence[float]) -> dict[Node, float]:
    """Metres since each vertex of `loop` was last passed, for robots at these arc positions on it."""
    if loop.length <= 0 or not progress_m:
        return {}
    arc = np.asarray(loop.arc)
    out: dict[Node, float] = {}
    for a in progress_m:
        behind = np.mod(a - arc, loop.length)
        for v, d in zip(loop.walk, behind.tolist(), strict=True):
            if d < out.get(v, np.inf):
                out[v] = d
    return out


def shortcut_placement(
    loop: Loop,
    loop_id: int,
    robots: Sequence[RobotPosition],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
) -> tuple[list[Assignment], float, float]:
    """Entries (maybe off the robots' current place, by shortcuts) lowering the predicted transient.

    Returns the assignments and the predicted worst interval (metres) before and after.
    """
    entries = nearest_entries(loop, robots, paths)
    _, best = place_at_entries(loop, loop_id, robots, paths, entries)
    age_of = _age_array(paths, ages_m)
    base = _predict(loop, best, paths, age_of)
    if len(robots) < 2 or len(loop.walk) < 3:
        return best, base[0], base[0]
    # greedy single robots' moves to other entries; scores: the worst interval first, then the total
    # excess, so that a move serving part of a hole (a plateau of equal intervals) counts and the
    # next move can finish it
    budget = min(MAX_EVALUATIONS, MAX_WORK // (len(robots) * len(loop.walk)))
    deadline = time.perf_counter() + SEARCH_S
    score, best = _greedy(loop, loop_id, robots, paths, age_of, _score(base), entries, best, budget, deadline)
    return best, base[0], score[0]


def _greedy(
    loop: Loop,
    loop_id: int,
    robots: Sequence[RobotPosition],
    paths: ShortestPaths,
    age_of: np.ndarray,
    score: tuple[float, float],
    entries: list[int],
    best: list[Assignment],
    budget: int,
    deadline: float,
) -> tuple[tuple[float, float], list[Assignment]]:
    """Single robots' moves to other entries while one lowers the score (at most `budget` tried)."""
    entries = list(entries)
    cands = [_candidates(loop, r, e, paths) for r, e in zip(robots, entries, strict=True)]
    evaluations = 0
    while evaluations < budget:
        move: tuple[tuple[float, float], int, int, list[Assignment]] | None = None
        for i, options in enumerate(cands):
            for m in options:
                if m == entries[i] or evaluations >= budget or time.perf_counter() > deadline:
                    continue
                trial = [*entries[:i], m, *entries[i + 1 :]]
                _, assigns = place_at_entries(loop, loop_id, robots, paths, trial)
                trial_score = _score(_predict(loop, assigns, paths, age_of))
                evaluations += 1
                if trial_score < (move[0] if move else score):
                    move = (trial_score, i, m, assigns)
        if move is None:
            break
        score, i, m, best = move
        entries[i] = m
    return score, best


def _score(pred: tuple[float, float]) -> tuple[float, float]:
    worst, excess = pred
    return round(worst, 6), round(excess, 6)


def _candidates(loop: Loop, r: RobotPosition, here: int, paths: ShortestPaths) -> list[int]:
    """Walk indices ahead that the robot reaches sooner by the graph than along the loop, spread out."""
    ahead = np.mod(np.asarray(loop.arc) - loop.arc[here], loop.length)
    d = paths.matrix[paths.index[r.node], [paths.index[v] for v in loop.walk]]
    gain = ahead - d
    good = [int(j) for j in np.argsort(ahead) if gain[j] > 1e-6 and j != here]
    if len(good) <= CANDIDATES_PER_ROBOT:
        return good
    picks = np.linspace(0, len(good) - 1, CANDIDATES_PER_ROBOT).round().astype(int)
    return sorted({good[p] for p in picks}, key=lambda j: ahead[j])
