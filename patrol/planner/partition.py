"""Balanced partition: cut the tour into contiguous stretches whose closed loops are as short as possible."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patrol.planner.model import Node
from patrol.planner.paths import ShortestPaths
from patrol.planner.tsp import EXACT_MAX, held_karp, polish


def split_tour(order: Sequence[Node], parts: int, paths: ShortestPaths) -> list[list[Node]]:
    """Cut the cyclic `order` into at most `parts` contiguous groups minimising the longest closed loop.

    A group's loop is estimated as its stretch of the tour plus the way back to its first stop; the
    best cut over every starting point is found by bisection on that bound, then each group's own
    tour is re-optimised.
    """
    n = len(order)
    parts = max(1, min(parts, n))
    if parts == 1:
        return [list(order)]
    cost = _stretch_costs(order, paths)
    limit = _optimal_limit(cost, parts)
    best_start = int(_covering_starts(cost, parts, limit)[0])
    groups = _groups_from(order, cost <= limit, best_start, parts)
    return rebalance([improve_tour(g, paths) for g in groups], paths)


def cuts_near_optimal(
    order: Sequence[Node], parts: int, paths: ShortestPaths, slack: float = 0.0
) -> list[list[list[Node]]]:
    """Every greedy cut of the cyclic `order` into at most `parts` stretches (one per starting point that
    covers the tour) with each stretch's loop bound within (1 + slack) x the best cut's; groups not
    re-optimised (`split_tour` takes the first of these at slack 0, then re-optimises and rebalances)."""
    n = len(order)
    parts = max(1, min(parts, n))
    if parts == 1:
        return [[list(order)]]
    cost = _stretch_costs(order, paths)
    limit = _optimal_limit(cost, parts) * (1 + slack)
    ok_mat = cost <= limit
    return [_groups_from(order, ok_mat, int(s), parts) for s in _covering_starts(cost, parts, limit)]


def _stretch_costs(order: Sequence[Node], paths: ShortestPaths) -> np.ndarray:
    """cost[s, m - 1]: the loop bound of the stretch of m stops starting at s (stretch plus the way back)."""
    n = len(order)
    d = paths.submatrix(list(order))
    nxt_i = np.roll(np.arange(n), -1)
    step = d[np.arange(n), nxt_i]
    prefix = np.concatenate([[0.0], np.cumsum(np.concatenate([step, step]))])
    start = np.arange(n)[:, None]
    length = np.arange(1, n + 1)[None, :]
    end = start + length - 1
    cost: np.ndarray = prefix[end] - prefix[start] + d[end % n, start % n]
    nn = np.array([min((paths.dist(v, w) for w in paths.neighbours(v)), default=0.0) for v in order])
    cost[:, 0] = 2 * nn  # a lone checkpoint: out to its nearest neighbour and back
    return cost


def _covering_starts(cost: np.ndarray, parts: int, limit: float) -> np.ndarray:
    """Starting points from which greedy stretches within `limit` cover the tour in `parts` stretches."""
    n = cost.shape[0]
    ok = cost <= limit
    # longest prefix of lengths that all fit
    first_bad = np.where(ok.all(axis=1), n, np.argmin(ok, axis=1))
    if not (first_bad > 0).any():
        return np.zeros(0, dtype=int)
    pos = np.arange(n)
    for _ in range(parts):
        pos = pos + first_bad[pos % n]
    covered = pos - np.arange(n)
    good: np.ndarray = np.nonzero(covered >= n)[0]
    return good


def _optimal_limit(cost: np.ndarray, parts: int) -> float:
    """The lowest loop bound at which some greedy cut covers the tour (bisection over the bounds)."""
    candidates = np.unique(cost)
    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_covering_starts(cost, parts, float(candidates[mid]))):
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


def _groups_from(order: Sequence[Node], ok_mat: np.ndarray, start: int, parts: int) -> list[list[Node]]:
    n = len(order)
    groups: list[list[Node]] = []
    pos = start
    while pos < start + n and len(groups) < parts:
        a = pos % n
        row = ok_mat[a]
        take = n if row.all() else int(np.argmin(row))
        take = max(1, min(take, start + n - pos))
        groups.append([order[(pos + k) % n] for k in range(take)])
        pos += take
    return groups


def _loop_len(order: Sequence[Node], paths: ShortestPaths) -> float:
    if len(order) == 1:
        return 2 * min((paths.dist(order[0], w) for w in paths.neighbours(order[0])), default=0.0)
    return sum(paths.dist(a, order[(i + 1) % len(order)]) for i, a in enumerate(order))


def _cheapest_insert(order: list[Node], v: Node, paths: ShortestPaths) -> list[Node]:
    best_i, best_c = 0, float("inf")
    for i, a in enumerate(order):
        b = order[(i + 1) % len(order)]
        c = paths.dist(a, v) + paths.dist(v, b) - paths.dist(a, b)
        if c < best_c:
            best_i, best_c = i, c
    return [*order[: best_i + 1], v, *order[best_i + 1 :]]


def rebalance(groups: list[list[Node]], paths: ShortestPaths, max_moves: int = 400) -> list[list[Node]]:
    """Move checkpoints out of the longest loop into the neighbouring group while the longest shrinks."""
    if len(groups) < 2:
        return groups
    owner = {v: i for i, g in enumerate(groups) for v in g}
    lengths = [_loop_len(g, paths) for g in groups]
    for _ in range(max_moves):
        w = max(range(len(groups)), key=lambda i: lengths[i])
        if len(groups[w]) < 2:
            break
        best: tuple[float, Node, int, list[Node], list[Node]] | None = None
        for v in groups[w]:
            near = min((u for u in owner if owner[u] != w), key=lambda u: paths.dist(v, u), default=None)
            if near is None:
                break
            h = owner[near]
            new_w = [u for u in groups[w] if u != v]
            new_h = _cheapest_insert(groups[h], v, paths)
            worst = max(_loop_len(new_w, paths), _loop_len(new_h, paths))
            if worst < lengths[w] - 1e-9 and (best is None or worst < best[0]):
                best = (worst, v, h, new_w, new_h)
        if best is None:
            break
        _, v, h, new_w, new_h = best
        groups[w], groups[h] = improve_tour(new_w, paths), improve_tour(new_h, paths)
        lengths[w], lengths[h] = _loop_len(groups[w], paths), _loop_len(groups[h], paths)
        owner[v] = h
    return groups


def improve_tour(stops: list[Node], paths: ShortestPaths) -> list[Node]:
    """Re-optimise a small tour: exact up to EXACT_MAX stops, else 2-opt / Or-opt."""
    if len(stops) <= 3:
        return stops
    d = paths.submatrix(stops)
    order = held_karp(d) if len(stops) <= EXACT_MAX else polish(list(range(len(stops))), d)
    return [stops[i] for i in order]
