"""The transient after a robot drops out: predict it, and shorten it with shortcuts off the loop.

When a robot leaves, the survivors of its loop re-space to `length / k` by waiting; the vertices in
the hole it leaves were last visited about `length / (k + 1)` ago and the robot behind the hole is
as far behind along the loop, so following the loop their first visit comes `2 length / (k + 1)`
after the last. Only a shorter way there helps (1 m/s is every robot's speed): a robot may join the
loop further ahead, by the shortest path on the graph, when that gains on driving the loop. Then
`detour_placement` searches approach walks that are not shortest paths: through up to three
waypoints (the hole's oldest vertices first) before entering the loop.

Prediction (all in metres at the common speed): under the runtime's spacing rule (a robot holds
while its `progress - phase` is ahead of the lowest on its loop) every robot of a loop moves as if
it stood at `phase + min(progress - phase)`, evenly spaced, and only reaches what lies beyond its
own start. So robot i reaches loop arc position `a` (on its approach or after its entry) at
`a - phase_i - min_j(s_j - phase_j)`, with `s_j` its start on the loop's arc; but a robot between
vertices holds only once it reaches the first vertex of its approach, so that visit comes before any
hold. A vertex's intervals are its age (metres since its last visit, estimated from where the robots
were before the drop-out) plus its first visit, then the gaps between the visits that follow.
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
) -> float:
    """Worst predicted interval (metres) of the loop's vertices over the next lap after a re-plan."""
    return _predict(loop, assignments, paths, _age_array(paths, ages_m))[0]


def _age_array(paths: ShortestPaths, ages_m: Mapping[Node, float]) -> np.ndarray:
    out = np.zeros(len(paths.nodes))
    for v, d in ages_m.items():
        if v in paths:
            out[paths.index[v]] = d
    return out


def _predict(
    loop: Loop, assignments: Sequence[Assignment], paths: ShortestPaths, age_of: np.ndarray
) -> tuple[float, float]:
    """(worst interval, total metres of intervals above the steady spacing) for these assignments."""
    worst, excess, _ = _predict_at(loop, assignments, paths, age_of)
    return worst, excess


def _predict_at(
    loop: Loop, assignments: Sequence[Assignment], paths: ShortestPaths, age_of: np.ndarray
) -> tuple[float, float, int]:
    """`_predict`, and the index (in `paths.nodes`) of the vertex with the worst interval (-1: none)."""
    if not assignments or loop.length <= 0:
        return 0.0, 0.0, -1
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
                # a robot between vertices holds (if it must) once it reaches approach[0]
                ap_t.append(c if i == 0 else s + c - p)
                ap_n.append(paths.index[v])
        times.append(np.asarray(ap_t, dtype=float))
        nodes.append(np.asarray(ap_n, dtype=int))
        seg = slice(a.entry + 1, a.entry + 1 + 2 * n)
        times.append(arc3[seg] - p)
        nodes.append(walk3[seg])
    return _worst_interval(times, nodes, horizon, age_of, set(walk_i.tolist()), loop.length / len(assignments))


def _worst_interval(
    times: list[np.ndarray], nodes: list[np.ndarray], horizon: float, age_of: np.ndarray, loop_nodes: set[int],
    spacing: float,
) -> tuple[float, float, int]:
    """From visits (times, node indices) within `horizon`: the worst interval, the total metres of
    intervals above `spacing`, and the vertex with the worst (-1: none). A vertex's first interval
    is its age plus its first visit; a loop vertex not visited in time counts age + horizon."""
    t = np.concatenate(times)
    x = np.concatenate(nodes)
    keep = t <= horizon
    t, x = t[keep], x[keep]
    order = np.lexsort((t, x))
    t, x = t[order], x[order]
    first = np.ones(len(x), dtype=bool)
    first[1:] = x[1:] != x[:-1]
    gaps = np.diff(t, prepend=0.0)
    gaps[first] = age_of[x[first]] + t[first]
    unseen_i = sorted(loop_nodes - set(x[first].tolist()))
    if unseen_i:
        gaps = np.concatenate([gaps, age_of[unseen_i] + horizon])
        x = np.concatenate([x, np.asarray(unseen_i, dtype=int)])
    if not len(gaps):
        return 0.0, 0.0, -1
    at = int(np.argmax(gaps))
    excess = float(np.clip(gaps - spacing, 0.0, None).sum())
    return float(gaps[at]), excess, int(x[at])


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
    until: float | None = None,
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
    if until is not None:  # the whole re-plan's cap
        deadline = min(deadline, until)
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


DETOUR_EVALUATIONS = 1500
"""Upper bound on predicted schedules tried by the detour search (after the entry search)."""
DETOUR_S = 0.3
"""Wall-clock cap on the detour search (all loops of a re-plan together)."""
MAX_WAYPOINTS = 3


def detour_placement(
    loop: Loop,
    loop_id: int,
    robots: Sequence[RobotPosition],
    paths: ShortestPaths,
    ages_m: Mapping[Node, float],
    start: Sequence[Assignment],
    seed: int = 0,
    deadline: float | None = None,
) -> tuple[list[Assignment], float, float]:
    """Approach walks that are not shortest paths: a robot may pass through up to `MAX_WAYPOINTS`
    vertices (the oldest of the hole first) before it enters the loop.

    A seeded local search (annealing on the predicted worst interval, then the excess) over each
    robot's waypoints and entry, starting from `start` (e.g. `shortcut_placement`'s result). The
    spacing rule is unchanged: a robot whose detour makes it the laggard holds the others back, and
    the predictor counts that. `deadline` (a `time.perf_counter()` value; default `DETOUR_S` from now)
    ends the search early. Returns the assignments and the predicted worst before and after.
    """
    age_of = _age_array(paths, ages_m)
    base = _score(_predict(loop, list(start), paths, age_of))
    k = len(robots)
    if k < 2 or len(loop.walk) < 3:
        return list(start), base[0], base[0]
    by_id = {a.robot_id: a for a in start}
    evaluate = _Evaluator(loop, paths, age_of, k)
    genes: list[tuple[tuple[Node, ...], int]] = [((), by_id[r.robot_id].entry) for r in robots]
    walks = [(by_id[r.robot_id].approach, by_id[r.robot_id].approach_m) for r in robots]
    visits = [evaluate.visits(*w) for w in walks]
    got = evaluate([e for _, e in genes], np.asarray([m for _, m in walks]), visits)
    cur_score = _score(got[:2])
    cur_worst = got[2]
    best_score, best = cur_score, (list(genes), list(walks), got[3])
    rng = np.random.default_rng(seed)
    n = len(loop.walk)
    if deadline is None:
        deadline = time.perf_counter() + DETOUR_S
    budget = min(DETOUR_EVALUATIONS, 20 * MAX_WORK // (k * n))
    pos_idx = np.array([paths.index[r.node] for r in robots])
    temp0 = loop.length / k * 0.05
    for it in range(budget):
        if time.perf_counter() > deadline:
            break
        trial = list(genes)
        i = int(rng.integers(k))
        wps, e = trial[i]
        move = rng.random()
        if move < 0.35 and cur_worst >= 0:
            # send one of the two robots nearest the worst vertex through it
            near = np.argsort(paths.matrix[pos_idx, cur_worst], kind="stable")[:2]
            i = int(near[int(rng.integers(len(near)))])
            wps, e = trial[i]
            if len(wps) >= MAX_WAYPOINTS:
                continue
            p = int(rng.integers(len(wps) + 1))
            wps = (*wps[:p], paths.nodes[cur_worst], *wps[p:])
        elif move < 0.6:
            e = int((e + rng.integers(-3, 7)) % n)
        elif move < 0.8 and wps:
            p = int(rng.integers(len(wps)))
            wps = (*wps[:p], *wps[p + 1 :])
        elif wps:
            p = int(rng.integers(len(wps)))
            nbrs = paths.neighbours(wps[p])
            wps = (*wps[:p], nbrs[int(rng.integers(len(nbrs)))], *wps[p + 1 :])
        else:
            e = int(rng.integers(n))
        trial[i] = (wps, e)
        trial_walks = list(walks)
        trial_walks[i] = _walk(loop, robots[i], paths, trial[i])
        trial_visits = list(visits)
        trial_visits[i] = evaluate.visits(*trial_walks[i])
        got = evaluate([g[1] for g in trial], np.asarray([m for _, m in trial_walks]), trial_visits)
        score = _score(got[:2])
        temp = temp0 * (1.0 - it / budget) + 1e-9
        delta = (score[0] - cur_score[0]) + 0.01 * (score[1] - cur_score[1])
        if delta <= 0 or rng.random() < np.exp(-delta / temp):
            genes, walks, visits, cur_score, cur_worst = trial, trial_walks, trial_visits, score, got[2]
            if score < best_score:
                best_score, best = score, (trial, trial_walks, got[3])
    if best_score >= base:
        return list(start), base[0], base[0]
    out = [
        Assignment(r.robot_id, loop_id, g[1], w[0], w[1], float(ph))
        for r, g, w, ph in zip(robots, best[0], best[1], best[2], strict=True)
    ]
    return out, base[0], _predict(loop, out, paths, age_of)[0]


class _Evaluator:
    """`_predict_at` for one loop, with each robot's approach visits computed once per walk."""

    def __init__(self, loop: Loop, paths: ShortestPaths, age_of: np.ndarray, k: int) -> None:
        self.loop, self.paths, self.age_of, self.k = loop, paths, age_of, k
        n = len(loop.walk)
        arc = np.asarray(loop.arc)
        self.arc3 = np.concatenate([arc, arc + loop.length, arc + 2 * loop.length])
        self.walk_i = np.asarray([paths.index[v] for v in loop.walk])
        self.walk3 = np.concatenate([self.walk_i, self.walk_i, self.walk_i])
        self.loop_set = set(self.walk_i.tolist())
        self.n = n

    def visits(self, approach: tuple[Node, ...], metres: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """Metres from the start at which the approach reaches its vertices (not the one stood on), and
        whether the robot is between vertices (its first visit comes before any hold)."""
        idx = np.asarray([self.paths.index[v] for v in approach], dtype=int)
        legs = self.paths.matrix[idx[:-1], idx[1:]]
        rem = metres - float(legs.sum())
        c = rem + np.concatenate([[0.0], np.cumsum(legs)])
        if rem <= 1e-9:
            return c[1:], idx[1:], False
        return c, idx, True

    def __call__(
        self,
        entries: Sequence[int],
        approach_m: np.ndarray,
        visits: Sequence[tuple[np.ndarray, np.ndarray, bool]],
    ) -> tuple[float, float, int, np.ndarray]:
        """(worst, excess, worst vertex index, phases) with phases as `place_at_entries` picks them."""
        loop, k = self.loop, self.k
        length = loop.length
        s = np.asarray([loop.arc[e] for e in entries]) - approach_m
        s_mod = np.mod(s, length)
        order = np.argsort(s_mod, kind="stable")
        spacing = length / k
        ar = np.arange(k)
        rots = ar[:, None] + ar[None, :]
        w = s_mod[order[rots % k]] + np.where(rots >= k, length, 0.0)
        u = w - ar[None, :] * spacing
        rot = int(np.argmin(np.round(u.max(axis=1) - u.min(axis=1), 9)))
        phases = np.empty(k)
        for i in range(k):
            ri = int(order[(rot + i) % k])
            phases[ri] = s[ri] - s_mod[ri] - (length if rot + i >= k else 0.0) + i * spacing
        lead = phases + float(np.min(s - phases))
        horizon = length + float(np.max(s - lead))
        times: list[np.ndarray] = []
        nodes: list[np.ndarray] = []
        for e, si, p, (vt, vn, moving) in zip(entries, s, lead, visits, strict=True):
            held = vt + (si - p)
            if moving:
                held[0] = vt[0]  # a robot between vertices holds (if it must) once it reaches approach[0]
            times.append(held)
            nodes.append(vn)
            times.append(self.arc3[e + 1 : e + 1 + 2 * self.n] - p)
            nodes.append(self.walk3[e + 1 : e + 1 + 2 * self.n])
        worst, excess, at = _worst_interval(times, nodes, horizon, self.age_of, self.loop_set, length / k)
        return worst, excess, at, phases


def _walk(
    loop: Loop, r: RobotPosition, paths: ShortestPaths, gene: tuple[tuple[Node, ...], int]
) -> tuple[tuple[Node, ...], float]:
    """The approach through the gene's waypoints (shortest paths between them) to its entry, and its metres."""
    wps, e = gene
    walk: list[Node] = [r.node]
    d = r.remaining_m
    for w in (*wps, loop.walk[e]):
        if w == walk[-1]:
            continue
        d += paths.dist(walk[-1], w)
        walk += paths.path(walk[-1], w)[1:]
    return tuple(walk), d
