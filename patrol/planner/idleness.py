"""Idleness of checkpoints: live (since the last visit, against its target) and measured over a run.

Measured as patrolling_sim's monitor does: a visit is a robot reaching a vertex; samples are the
intervals between consecutive visits of one vertex (the first visit only starts its clock); worst
idleness is the longest sample, average idleness the mean of all samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from patrol.planner.model import Checkpoint, Node


@dataclass(frozen=True)
class Visit:
    node: Node
    robot_id: str
    t: float
    interval_s: float | None
    """Time since the previous visit of this checkpoint; None for its first visit."""


@dataclass(frozen=True)
class CheckpointIdleness:
    node: Node
    idle_s: float | None
    """Seconds since the last visit; None if never visited."""
    target_s: float | None
    last_robot: str | None

    @property
    def overdue(self) -> bool:
        return self.target_s is not None and (self.idle_s is None or self.idle_s > self.target_s)


@dataclass(frozen=True)
class IdlenessStats:
    worst_s: float
    average_s: float
    samples: int
    unvisited: int
    """Checkpoints visited fewer than twice (no interval measured)."""


class IdlenessMonitor:
    """Records visits of checkpoints; other vertices are ignored. `on_visit` sees every recorded visit."""

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint | Node],
        on_visit: Callable[[Visit], None] | None = None,
        start: float | None = None,
    ) -> None:
        self._target: dict[Node, float | None] = {}
        for c in checkpoints:
            if isinstance(c, Checkpoint):
                self._target[c.node] = c.target_interval_s
            else:
                self._target[c] = None
        self._last: dict[Node, tuple[float, str]] = {}
        self._samples: list[tuple[float, float, Node]] = []  # (end time, interval, node)
        self._count: dict[Node, int] = dict.fromkeys(self._target, 0)
        self._on_visit = on_visit
        self.start = start

    def seed(self, node: Node, t: float, robot_id: str) -> None:
        """A visit known from before (e.g. stored before a restart): idleness counts from it, no interval is
        sampled and `on_visit` is not called."""
        if node in self._target and (node not in self._last or self._last[node][0] < t):
            self._last[node] = (t, robot_id)

    def carry_over(self, old: IdlenessMonitor) -> None:
        """Take the last visits of the checkpoints this monitor shares with `old` (a plan switch: a
        checkpoint both plans watch keeps its idleness)."""
        for node, last in old._last.items():
            if node in self._target:
                self._last[node] = last

    def visit(self, node: Node, robot_id: str, t: float) -> Visit | None:
        if node not in self._target:
            return None
        prev = self._last.get(node)
        interval = None if prev is None else t - prev[0]
        if interval is not None:
            self._samples.append((t, interval, node))
        self._last[node] = (t, robot_id)
        self._count[node] += 1
        v = Visit(node, robot_id, t, interval)
        if self._on_visit is not None:
            self._on_visit(v)
        return v

    def live(self, now: float) -> list[CheckpointIdleness]:
        out = []
        for node, target in self._target.items():
            last = self._last.get(node)
            out.append(
                CheckpointIdleness(
                    node,
                    None if last is None else now - last[0],
                    target,
                    None if last is None else last[1],
                )
            )
        return out

    def stats(self, since: float = -math.inf, until: float = math.inf) -> IdlenessStats:
        """Worst and average over the intervals that ended in [since, until]."""
        vals = [iv for t, iv, _ in self._samples if since <= t <= until]
        return IdlenessStats(
            worst_s=max(vals, default=0.0),
            average_s=sum(vals) / len(vals) if vals else 0.0,
            samples=len(vals),
            unvisited=sum(1 for c in self._count.values() if c < 2),
        )

    def intervals(self) -> list[tuple[float, float, Node]]:
        return list(self._samples)
