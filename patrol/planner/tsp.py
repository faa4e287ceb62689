"""Closed tours over checkpoints on shortest-path distances.

Exact Held-Karp dynamic programming for small sets, OR-Tools routing with guided local search under
a time limit for larger ones, and a quick 2-opt / Or-opt polish for the small sub-tours of partitions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

EXACT_MAX = 12
"""Held-Karp is used up to this many checkpoints (2^n * n^2 work)."""

SECOND_OPINION_MAX = 60
"""Up to this many checkpoints a second OR-Tools search (another first solution) is run too."""

_SCALE = 1000.0  # OR-Tools wants integer arc costs: millimetres


def tour_length(order: Sequence[int], dist: NDArray[np.float64]) -> float:
    """Length of the closed tour visiting `order` (indices into dist) and returning to the start."""
    if len(order) < 2:
        return 0.0
    idx = np.asarray(order)
    return float(dist[idx, np.roll(idx, -1)].sum())


def held_karp(dist: NDArray[np.float64]) -> list[int]:
    """Optimal closed tour by dynamic programming over subsets (n <= EXACT_MAX)."""
    n = dist.shape[0]
    if n <= 3:
        return list(range(n))
    m = n - 1  # node 0 is the start; subsets over nodes 1..n-1
    full = 1 << m
    dp = np.full((full, m), np.inf)
    parent = np.full((full, m), -1, dtype=np.int64)
    for j in range(m):
        dp[1 << j, j] = dist[0, j + 1]
    sub = dist[1:, 1:]
    for mask in range(1, full):
        row = dp[mask]
        if not np.isfinite(row).any():
            continue
        # extend to every k not in mask: cand[j, k] = dp[mask, j] + sub[j, k]
        cand = row[:, None] + sub
        best_j = np.argmin(cand, axis=0)
        best = cand[best_j, np.arange(m)]
        for k in range(m):
            bit = 1 << k
            if mask & bit:
                continue
            nm = mask | bit
            if best[k] < dp[nm, k]:
                dp[nm, k] = best[k]
                parent[nm, k] = best_j[k]
    last = dp[full - 1] + dist[1:, 0]
    j = int(np.argmin(last))
    mask = full - 1
    rev: list[int] = []
    while j >= 0:
        rev.append(j + 1)
        pj = int(parent[mask, j])
        mask ^= 1 << j
        j = pj
    return [0, *reversed(rev)]


def ortools_tour(dist: NDArray[np.float64], time_limit_s: float, first: str = "SAVINGS") -> list[int]:
    """Guided-local-search tour from OR-Tools routing, stopped after `time_limit_s`.

    `first` names the first-solution strategy (SAVINGS did best on the patrolling_sim maps).
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = dist.shape[0]
    cost = np.rint(dist * _SCALE).astype(np.int64).tolist()
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)

    def arc(i: int, j: int) -> int:
        return int(cost[manager.IndexToNode(i)][manager.IndexToNode(j)])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(arc))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first)
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(10, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:  # only if the solver gave up without any solution
        log.warning("OR-Tools found no tour for %d checkpoints; using nearest neighbour", n)
        return nearest_neighbour(dist)
    order: list[int] = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        order.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    return order


def nearest_neighbour(dist: NDArray[np.float64]) -> list[int]:
    n = dist.shape[0]
    left = set(range(1, n))
    order = [0]
    while left:
        cur = order[-1]
        nxt = min(left, key=lambda k: dist[cur, k])
        order.append(nxt)
        left.remove(nxt)
    return order


def polish(order: list[int], dist: NDArray[np.float64], max_rounds: int = 50) -> list[int]:
    """2-opt and Or-opt (segments of 1-3) until no improving move; for tours of tens of stops."""
    n = len(order)
    if n < 4:
        return list(order)
    tour = list(order)
    for _ in range(max_rounds):
        improved = False
        # 2-opt
        for i in range(n - 1):
            a, b = tour[i], tour[i + 1]
            for j in range(i + 2, n if i > 0 else n - 1):
                c, d = tour[j], tour[(j + 1) % n]
                delta = dist[a, c] + dist[b, d] - dist[a, b] - dist[c, d]
                if delta < -1e-9:
                    tour[i + 1 : j + 1] = reversed(tour[i + 1 : j + 1])
                    a, b = tour[i], tour[i + 1]
                    improved = True
        # Or-opt: move a segment of length 1..3 elsewhere (either orientation)
        for seg in (1, 2, 3):
            i = 0
            while i < n and n > seg + 2:
                segment = [tour[(i + k) % n] for k in range(seg)]
                prev, nxt = tour[(i - 1) % n], tour[(i + seg) % n]
                removal = dist[prev, segment[0]] + dist[segment[-1], nxt] - dist[prev, nxt]
                rest = [x for x in tour if x not in segment]
                best_gain, best_pos, best_rev = 1e-9, -1, False
                for p in range(len(rest)):
                    u, v = rest[p], rest[(p + 1) % len(rest)]
                    for rev in (False, True):
                        s0, s1 = (segment[-1], segment[0]) if rev else (segment[0], segment[-1])
                        gain = removal - (dist[u, s0] + dist[s1, v] - dist[u, v])
                        if gain > best_gain:
                            best_gain, best_pos, best_rev = gain, p, rev
                if best_pos >= 0:
                    ins = list(reversed(segment)) if best_rev else segment
                    tour = rest[: best_pos + 1] + ins + rest[best_pos + 1 :]
                    improved = True
                i += 1
        if not improved:
            break
    return tour


def solve_tour(dist: NDArray[np.float64], time_limit_s: float = 1.0) -> list[int]:
    """A closed tour over all indices of `dist`: exact up to EXACT_MAX, else OR-Tools GLS + polish."""
    n = dist.shape[0]
    if n <= 3:
        return list(range(n))
    if n <= EXACT_MAX:
        return held_karp(dist)
    order = ortools_tour(dist, time_limit_s)
    if n <= SECOND_OPINION_MAX:
        # small sets: a second search from another start costs little and sometimes wins
        other = ortools_tour(dist, time_limit_s, "PATH_CHEAPEST_ARC")
        if tour_length(other, dist) < tour_length(order, dist):
            order = other
    if n <= 40:
        order = polish(order, dist)
    return order
