"""Per-vertex decisions of a patrol: the interface the simulator (or a dispatcher) drives, and the
two implementations: following a `PatrolRuntime` plan, and the conscientious reactive baseline."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from patrol.planner.model import Node
from patrol.planner.paths import ShortestPaths
from patrol.planner.runtime import PatrolRuntime

HOLD_EPS_S = 1e-6


@dataclass(frozen=True)
class Move:
    """Go to the adjacent vertex `node`, or (node None) stay and ask again after `wait_s`."""

    node: Node | None
    wait_s: float = 0.0


class PatrolPolicy(Protocol):
    def decide(self, robot_id: str, at: Node, now: float, arrived: bool) -> Move:
        """The robot is at `at` (just `arrived`, or after a wait): what next."""
        ...

    def drop(self, robot_id: str, now: float) -> None:
        """The robot is gone (offline, pulled away); the others adapt."""
        ...


class RuntimePolicy:
    """Follows the plan of a `PatrolRuntime`, holding at vertices to keep the spacing."""

    def __init__(self, runtime: PatrolRuntime) -> None:
        self.runtime = runtime

    def decide(self, robot_id: str, at: Node, now: float, arrived: bool) -> Move:
        if arrived:
            self.runtime.reached(robot_id, at, now)
        hold = self.runtime.hold_s(robot_id, now)
        if hold > HOLD_EPS_S:
            return Move(None, hold)
        nxt = self.runtime.upcoming(robot_id, 1)[0]
        self.runtime.depart(robot_id, now)
        return Move(nxt)

    def drop(self, robot_id: str, now: float) -> None:
        self.runtime.remove_robot(robot_id, now)


class ConscientiousReactive:
    """Baseline (Machado et al. 2002): go to the neighbour this robot itself visited longest ago."""

    def __init__(self, paths: ShortestPaths, seed: int = 0) -> None:
        self.paths = paths
        self._rng = random.Random(seed)
        self._seen: dict[str, dict[Node, float]] = {}

    def decide(self, robot_id: str, at: Node, now: float, arrived: bool) -> Move:
        seen = self._seen.setdefault(robot_id, {})
        seen[at] = now
        nbrs = self.paths.neighbours(at)
        if not nbrs:
            return Move(None, 1.0)
        oldest = min(seen.get(v, float("-inf")) for v in nbrs)
        choice = self._rng.choice([v for v in nbrs if seen.get(v, float("-inf")) == oldest])
        return Move(choice)

    def drop(self, robot_id: str, now: float) -> None:
        self._seen.pop(robot_id, None)
