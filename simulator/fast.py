"""Fast in-process kinematic patrol simulation on a simulated clock (for benchmarks and tests).

Robots move along graph edges at a fixed speed (1 m/s by default), spend no time at vertices
unless their policy tells them to wait, and report every vertex they reach. A robot's start vertex
is not a visit (it has not reached it); its clock starts with the first arrival there. Time jumps from event
to event, so an 1,800 s patrol of twelve robots takes a fraction of a second.

The simulator knows nothing of the planner: the graph's edge lengths, the policy that decides each
robot's next vertex and the monitor that records visits (for idleness as the patrolling_sim monitor
defines it, e.g. `patrol.planner.idleness.IdlenessMonitor`) are given as small protocols.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Node = Hashable


class Graph(Protocol):
    """Edge lengths in metres, keyed (from, to); `require` raises for vertices not on the graph."""

    @property
    def edge_length(self) -> Mapping[tuple[Node, Node], float]: ...

    def require(self, nodes: Iterable[Node]) -> None: ...


class Move(Protocol):
    """Go to the adjacent vertex `node`, or (node None) stay and ask again after `wait_s`."""

    @property
    def node(self) -> Node | None: ...

    @property
    def wait_s(self) -> float: ...


class Policy(Protocol):
    def decide(self, robot_id: str, at: Node, now: float, arrived: bool) -> Move: ...

    def drop(self, robot_id: str, now: float) -> None: ...


class VisitMonitor(Protocol):
    def visit(self, node: Node, robot_id: str, t: float) -> object: ...

    def stats(self) -> Any: ...


class Start(Protocol):
    @property
    def robot_id(self) -> str: ...

    @property
    def node(self) -> Node: ...

    @property
    def remaining_m(self) -> float: ...


@dataclass(frozen=True)
class Position:
    """Where a robot is: the vertex it drives to (or stands on), metres left, the vertex it left."""

    robot_id: str
    node: Node
    remaining_m: float
    after: Node | None = None


@dataclass(frozen=True)
class DropOut:
    """At simulated time `t`, robot `robot_id` stops and leaves the patrol."""

    t: float
    robot_id: str


@dataclass(frozen=True)
class FastResult:
    stats: Any  # what the monitor's stats() returns
    duration_s: float
    visits: int
    monitor: VisitMonitor
    distance_m: dict[str, float]
    waited_s: dict[str, float]


@dataclass
class _Robot:
    node: Node  # the vertex it stands on, or the one it is driving to
    moving_from: Node | None = None
    t_depart: float = 0.0
    distance: float = 0.0
    waited: float = 0.0
    version: int = 0
    active: bool = True
    wait_since: float | None = field(default=None)


class FastSim:
    """Event-driven kinematic simulation of robots on a patrol graph."""

    def __init__(
        self,
        paths: Graph,
        policy: Policy,
        starts: Sequence[Start],
        monitor: VisitMonitor,
        speed: float = 1.0,
        on_visit: Callable[[str, Node, float], None] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.paths = paths
        self.policy = policy
        self.speed = speed
        self.now = 0.0
        self.monitor = monitor
        self._on_visit = on_visit
        self._robots: dict[str, _Robot] = {}
        self._queue: list[tuple[float, int, str, str, int]] = []
        self._seq = itertools.count()
        self.visits = 0
        for s in starts:
            if s.remaining_m > 0:
                raise ValueError(f"robot {s.robot_id}: the fast simulator starts robots on vertices")
            paths.require([s.node])
            self._robots[s.robot_id] = _Robot(node=s.node)
            self._push(0.0, s.robot_id, "start")

    def position(self, robot_id: str) -> Position:
        """Exact position now: the vertex driven to and the metres left to it."""
        r = self._robots[robot_id]
        if r.moving_from is None:
            return Position(robot_id, r.node, 0.0)
        edge = self.paths.edge_length[(r.moving_from, r.node)]
        left = max(0.0, edge - (self.now - r.t_depart) * self.speed)
        return Position(robot_id, r.node, left, r.moving_from)

    def run(self, duration_s: float, dropouts: Sequence[DropOut] = ()) -> FastResult:
        """Simulate until `duration_s` (simulated seconds), applying drop-outs at their times."""
        pending = sorted(dropouts, key=lambda d: d.t)
        for d in pending:
            self._push(d.t, d.robot_id, "drop")
        while self._queue and self._queue[0][0] <= duration_s:
            t, _, rid, kind, version = heapq.heappop(self._queue)
            self.now = t
            r = self._robots.get(rid)
            if r is None or not r.active:
                continue
            if kind == "drop":
                r.active = False
                self.policy.drop(rid, t)
                self._wake_waiting()
                continue
            if version != r.version:
                continue  # superseded by a re-plan
            arrived = kind in ("arrive", "start")
            if kind == "arrive":
                if r.moving_from is not None:
                    r.distance += self.paths.edge_length[(r.moving_from, r.node)]
                r.moving_from = None
                self.visits += 1
                self.monitor.visit(r.node, rid, t)
                if self._on_visit is not None:
                    self._on_visit(rid, r.node, t)
            elif r.wait_since is not None:
                r.waited += t - r.wait_since
                r.wait_since = None
            move = self.policy.decide(rid, r.node, t, arrived)
            if move.node is None:
                r.wait_since = t
                self._push(t + max(move.wait_s, 1e-3), rid, "decide")
                continue
            key = (r.node, move.node)
            if key not in self.paths.edge_length:
                raise ValueError(f"robot {rid}: policy moved from {r.node!r} to non-adjacent {move.node!r}")
            r.moving_from, r.node, r.t_depart = r.node, move.node, t
            r.version += 1
            self._push(t + self.paths.edge_length[key] / self.speed, rid, "arrive")
        self.now = duration_s
        return FastResult(
            stats=self.monitor.stats(),
            duration_s=duration_s,
            visits=self.visits,
            monitor=self.monitor,
            distance_m={k: r.distance for k, r in self._robots.items()},
            waited_s={k: r.waited for k, r in self._robots.items()},
        )

    def _wake_waiting(self) -> None:
        """After a re-plan, robots that are waiting decide again now."""
        for rid, r in self._robots.items():
            if r.active and r.moving_from is None:
                if r.wait_since is not None:
                    r.waited += self.now - r.wait_since
                    r.wait_since = None
                r.version += 1
                self._push(self.now, rid, "decide")

    def _push(self, t: float, rid: str, kind: str) -> None:
        version = self._robots[rid].version if rid in self._robots else 0
        heapq.heappush(self._queue, (t, next(self._seq), rid, kind, version))
