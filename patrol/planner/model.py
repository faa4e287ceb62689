"""Value types of the patrol planner: checkpoints, loops, robot positions and plans."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum

Node = Hashable


class Strategy(StrEnum):
    CYCLIC = "cyclic"
    PARTITION = "partition"
    AUTO = "auto"


@dataclass(frozen=True)
class Checkpoint:
    """A vertex to patrol. `priority` n >= 1 asks for n visits per cycle (and weighs its idleness by n)."""

    node: Node
    priority: int = 1
    target_interval_s: float | None = None

    def __post_init__(self) -> None:
        if self.priority < 1:
            raise ValueError(f"checkpoint {self.node!r}: priority must be >= 1, got {self.priority}")
        if self.target_interval_s is not None and self.target_interval_s <= 0:
            raise ValueError(
                f"checkpoint {self.node!r}: target_interval_s must be positive, got {self.target_interval_s}"
            )


@dataclass(frozen=True)
class RobotPosition:
    """Where a robot is: heading to (or standing on) `node`, `remaining_m` metres away from it.

    `after` is the vertex it came from, if known: a robot keeps its direction of travel when it
    joins a loop that passes `node` more than once.
    """

    robot_id: str
    node: Node
    remaining_m: float = 0.0
    after: Node | None = None


@dataclass(frozen=True)
class Loop:
    """A closed walk: `walk[i]` at arc position `arc[i]`; after `walk[-1]` it continues with `walk[0]`.

    `stops` are the checkpoints in visiting order (with repeats for priority checkpoints); the walk
    adds the vertices passed on the shortest paths between them.
    """

    stops: tuple[Node, ...]
    walk: tuple[Node, ...]
    arc: tuple[float, ...]
    length: float

    def next_index(self, i: int) -> int:
        return (i + 1) % len(self.walk)

    def step_length(self, i: int) -> float:
        """Distance from walk[i] to the next walk vertex."""
        j = self.next_index(i)
        return (self.arc[j] if j else self.length) - self.arc[i]


@dataclass(frozen=True)
class Assignment:
    """One robot's part of a plan: it follows `approach` to `loop.walk[entry]`, then loops forever.

    `phase_m` is the robot's offset along its loop: robots of one loop keep `progress - phase_m`
    equal, which spaces them `length / k` apart.
    """

    robot_id: str
    loop_id: int
    entry: int
    approach: tuple[Node, ...]
    approach_m: float
    phase_m: float


@dataclass(frozen=True)
class PatrolPlan:
    strategy: Strategy
    loops: tuple[Loop, ...]
    assignments: tuple[Assignment, ...]
    predicted_worst_s: float
    """Predicted steady-state worst idleness, each checkpoint's weighted by its priority."""
    tour_length_m: float
    """Length of the single tour over all checkpoints (the cyclic strategy's loop)."""
    speed: float

    def assignment(self, robot_id: str) -> Assignment:
        for a in self.assignments:
            if a.robot_id == robot_id:
                return a
        raise KeyError(f"robot {robot_id!r} has no assignment in this plan")

    def robots_on(self, loop_id: int) -> list[Assignment]:
        return [a for a in self.assignments if a.loop_id == loop_id]
