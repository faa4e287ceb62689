"""The patrol planner: one tour for evenly spaced robots, or a balanced partition; picks the better.

Pure and synchronous: give it the graph, the checkpoints and where the robots are; it returns a
`PatrolPlan`. The tour over the checkpoints is solved once and cached, so re-planning when the team
changes only redoes the cheap placement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import networkx as nx

from patrol.planner.loops import build_loop, insert_priority_visits, predicted_worst
from patrol.planner.model import Assignment, Checkpoint, Loop, Node, PatrolPlan, RobotPosition, Strategy
from patrol.planner.partition import split_tour
from patrol.planner.paths import GraphError, ShortestPaths
from patrol.planner.placement import orient_like, place_on_loop, robots_to_loops
from patrol.planner.tsp import solve_tour, tour_length

log = logging.getLogger(__name__)


def default_time_limit(n: int) -> float:
    """OR-Tools search time for n checkpoints: short for small sets, about a second for 150+."""
    return min(1.2, max(0.12, n / 100.0))


class Planner:
    """Plans patrols of one checkpoint set on one graph for any team."""

    def __init__(
        self,
        graph: nx.Graph | ShortestPaths,
        checkpoints: Sequence[Checkpoint] | None = None,
        *,
        speed: float = 1.0,
        time_limit_s: float | None = None,
    ) -> None:
        self.paths = graph if isinstance(graph, ShortestPaths) else ShortestPaths(graph)
        if checkpoints is None:
            checkpoints = [Checkpoint(v) for v in self.paths.nodes]
        if not checkpoints:
            raise GraphError("no checkpoints to patrol; give at least one checkpoint vertex")
        merged: dict[Node, Checkpoint] = {}
        for c in checkpoints:
            prev = merged.get(c.node)
            if prev is None or c.priority > prev.priority:
                merged[c.node] = c
        self.checkpoints = list(merged.values())
        self.paths.require(merged)
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self.priority = {c.node: c.priority for c in self.checkpoints}
        self.time_limit_s = time_limit_s if time_limit_s is not None else default_time_limit(len(merged))
        self._tour: list[Node] | None = None
        self._cyclic: Loop | None = None
        self._partitions: dict[int, list[Loop]] = {}

    # -- tours -----------------------------------------------------------------------------------
    def tour(self) -> list[Node]:
        """The (cached) near-optimal tour over all checkpoints, each once."""
        if self._tour is None:
            nodes = [c.node for c in self.checkpoints]
            order = solve_tour(self.paths.submatrix(nodes), self.time_limit_s)
            self._tour = [nodes[i] for i in order]
        return self._tour

    def tour_length(self) -> float:
        nodes = self.tour()
        return tour_length(list(range(len(nodes))), self.paths.submatrix(nodes))

    def cyclic_loop(self) -> Loop:
        if self._cyclic is None:
            stops = insert_priority_visits(self.tour(), self.priority, self.paths)
            self._cyclic = build_loop(stops, self.paths)
        return self._cyclic

    def partition_loops(self, parts: int) -> list[Loop]:
        if parts not in self._partitions:
            groups = split_tour(self.tour(), parts, self.paths)
            loops = []
            for g in groups:
                pri = {v: self.priority[v] for v in g}
                loops.append(build_loop(insert_priority_visits(g, pri, self.paths), self.paths))
            self._partitions[parts] = loops
        return self._partitions[parts]

    # -- plans -----------------------------------------------------------------------------------
    def plan(
        self,
        robots: Sequence[RobotPosition] | int,
        strategy: Strategy = Strategy.AUTO,
        keep: Sequence[Loop] = (),
    ) -> PatrolPlan:
        """Plan for the robots where they are (or, given a count, for robots placed by the planner).

        `keep`: loops robots drive now; a loop planned again keeps its direction (nobody turns back).
        """
        count = robots if isinstance(robots, int) else len(robots)
        if count < 1:
            raise ValueError("a patrol needs at least one robot")
        if strategy is Strategy.AUTO:
            cyc = self._loops_for(Strategy.CYCLIC, count)
            part = self._loops_for(Strategy.PARTITION, count)
            p_cyc = predicted_worst(cyc, self.priority, self.speed)
            p_part = predicted_worst(part, self.priority, self.speed)
            strategy = Strategy.PARTITION if p_part < p_cyc - 1e-9 else Strategy.CYCLIC
        loops_counts = self._loops_for(strategy, count)
        positions = (
            self._start_positions([lc[0] for lc in loops_counts], [lc[1] for lc in loops_counts])
            if isinstance(robots, int)
            else list(robots)
        )
        self.paths.require(p.node for p in positions)
        loops = [lc[0] for lc in loops_counts]
        per_loop = robots_to_loops(loops, [lc[1] for lc in loops_counts], positions, self.paths)
        final_loops: list[Loop] = []
        assigns: list[Assignment] = []
        for i, (loop, group) in enumerate(zip(loops, per_loop, strict=True)):
            oriented, fixed = orient_like(loop, keep)
            placed, a, _spread = place_on_loop(oriented, i, group, self.paths, fixed)
            final_loops.append(placed)
            assigns.extend(a)
        predicted = predicted_worst(
            list(zip(final_loops, [len(g) for g in per_loop], strict=True)), self.priority, self.speed
        )
        return PatrolPlan(
            strategy=strategy,
            loops=tuple(final_loops),
            assignments=tuple(assigns),
            predicted_worst_s=predicted,
            tour_length_m=self.tour_length(),
            speed=self.speed,
        )

    def _loops_for(self, strategy: Strategy, count: int) -> list[tuple[Loop, int]]:
        if strategy is Strategy.CYCLIC:
            return [(self.cyclic_loop(), count)]
        loops = self.partition_loops(count)
        counts = [1] * len(loops)
        # more robots than groups (tiny maps): extra robots go where they cut idleness most
        for _ in range(count - len(loops)):
            i = max(range(len(loops)), key=lambda k: loops[k].length / counts[k])
            counts[i] += 1
        return list(zip(loops, counts, strict=True))

    def _start_positions(self, loops: Sequence[Loop], counts: Sequence[int]) -> list[RobotPosition]:
        """Start vertices when the planner may choose: the loop vertices nearest equal offsets."""
        out: list[RobotPosition] = []
        for loop, k in zip(loops, counts, strict=True):
            for i in range(k):
                target = i * loop.length / k
                j = min(range(len(loop.walk)), key=lambda m: abs(loop.arc[m] - target))
                out.append(RobotPosition(f"r{len(out)}", loop.walk[j]))
        return out
