"""Building closed walks from tours, priority insertion and idleness prediction."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from patrol.planner.model import Loop, Node
from patrol.planner.paths import ShortestPaths


def build_loop(stops: Sequence[Node], paths: ShortestPaths) -> Loop:
    """Expand the stop sequence into the closed walk of every vertex passed (shortest paths)."""
    if not stops:
        raise ValueError("a loop needs at least one checkpoint")
    stops = tuple(stops)
    if len(stops) == 1:
        # a single checkpoint: go to the nearest neighbour and back, so that it is revisited
        only = stops[0]
        nbrs = paths.neighbours(only)
        if not nbrs:
            return Loop(stops=stops, walk=(only,), arc=(0.0,), length=0.0)
        nb = min(nbrs, key=lambda v: paths.dist(only, v))
        d = paths.dist(only, nb)
        return Loop(stops=stops, walk=(only, nb), arc=(0.0, d), length=2 * d)
    walk: list[Node] = []
    arc: list[float] = []
    pos = 0.0
    for k, s in enumerate(stops):
        t = stops[(k + 1) % len(stops)]
        seg = paths.path(s, t)
        for a, b in itertools.pairwise(seg):
            walk.append(a)
            arc.append(pos)
            pos += paths.dist(a, b)
    if not walk:  # every stop on the same vertex
        return build_loop(stops[:1], paths)
    return Loop(stops=stops, walk=tuple(walk), arc=tuple(arc), length=pos)


def max_gaps(loop: Loop) -> dict[Node, float]:
    """For every vertex on the walk: the longest arc distance between its consecutive passes."""
    seen: dict[Node, list[float]] = {}
    for v, a in zip(loop.walk, loop.arc, strict=True):
        seen.setdefault(v, []).append(a)
    out: dict[Node, float] = {}
    for v, arcs in seen.items():
        gaps = [b - a for a, b in itertools.pairwise(arcs)]
        gaps.append(arcs[0] + loop.length - arcs[-1])
        out[v] = max(gaps)
    return out


def predicted_worst(loops: Sequence[tuple[Loop, int]], priority: Mapping[Node, int], speed: float) -> float:
    """Steady-state worst weighted idleness of evenly spaced robots: loops given with their robot counts."""
    best: dict[Node, float] = {}
    for loop, k in loops:
        if k <= 0:
            continue
        for v, gap in max_gaps(loop).items():
            if v in priority:
                t = gap / k / speed
                best[v] = min(best.get(v, t), t)
    worst = 0.0
    for v, p in priority.items():
        if v not in best:
            return float("inf")
        worst = max(worst, best[v] * p)
    return worst


def insert_priority_visits(stops: list[Node], priority: Mapping[Node, int], paths: ShortestPaths) -> list[Node]:
    """Add visits of high-priority checkpoints until each is passed `priority` times per cycle.

    Each extra visit goes into the longest stretch between two passes of the checkpoint, at the
    cheapest detour among the slots in the middle half of that stretch.
    """
    stops = list(stops)
    wanted = sorted((p, v) for v, p in priority.items() if p > 1)
    for p, cp in reversed(wanted):
        for _ in range(4 * p):  # bounded: each round adds one visit
            loop = build_loop(stops, paths)
            passes = [a for v, a in zip(loop.walk, loop.arc, strict=True) if v == cp]
            if len(passes) >= p or len(stops) < 2:
                break
            # the longest stretch between consecutive passes (cyclic)
            ext = [*passes, passes[0] + loop.length]
            k = max(range(len(passes)), key=lambda i: ext[i + 1] - ext[i])
            lo, hi = ext[k], ext[k + 1]
            mid_lo, mid_hi = lo + (hi - lo) / 4, hi - (hi - lo) / 4
            stop_arc = _stop_arcs(stops, paths)
            best: tuple[float, int] | None = None
            fallback: tuple[float, int] | None = None
            for i, s in enumerate(stops):
                t = stops[(i + 1) % len(stops)]
                a = stop_arc[i]
                while a < lo:
                    a += loop.length
                cost = paths.dist(s, cp) + paths.dist(cp, t) - paths.dist(s, t)
                centre = abs(a - (lo + hi) / 2)
                if mid_lo <= a <= mid_hi and (best is None or cost < best[0]):
                    best = (cost, i)
                if fallback is None or centre < fallback[0]:
                    fallback = (centre, i)
            slot = best[1] if best is not None else fallback[1] if fallback is not None else 0
            stops.insert(slot + 1, cp)
    return stops


def _stop_arcs(stops: Sequence[Node], paths: ShortestPaths) -> list[float]:
    out = [0.0]
    for a, b in itertools.pairwise(stops):
        out.append(out[-1] + paths.dist(a, b))
    return out
