"""Choosing the robot for an incident: lowest route travel time among capable robots with battery to spare."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from patrol.dispatch.model import IncidentAssignment, RobotInfo
from patrol.planner.model import Node
from patrol.planner.paths import ShortestPaths


@dataclass(frozen=True)
class Candidate:
    info: RobotInfo
    at: Node
    """The vertex the robot will leave from (its current base end)."""
    extra_m: float
    """Metres still to drive to reach `at`."""
    battery_pct: float


def needed_pct(info: RobotInfo, metres: float, margin: float) -> float:
    return metres * info.consumption_pct_per_m * margin


def choose_robot(
    incident_id: str,
    target: Node,
    candidates: Iterable[Candidate],
    paths: ShortestPaths,
    chargers: Sequence[Node],
    required_actions: Iterable[str] = ("scanArea", "capturePhoto"),
    reserve_pct: float = 10.0,
    margin: float = 1.2,
) -> IncidentAssignment | None:
    """The capable robot that gets to `target` first along the routes (not the straight line), with
    battery for the way there and on to the nearest charger plus `reserve_pct`; None if nobody can."""
    need_actions = set(required_actions)
    best: IncidentAssignment | None = None
    for c in candidates:
        if not need_actions <= c.info.actions:
            continue
        go = c.extra_m + paths.dist(c.at, target)
        back = min((paths.dist(target, ch) for ch in chargers), default=0.0)
        if c.battery_pct - needed_pct(c.info, go + back, margin) < reserve_pct:
            continue
        travel = go / c.info.speed
        if best is None or travel < best.travel_s:
            best = IncidentAssignment(incident_id, c.info.robot_id, tuple(paths.path(c.at, target)), travel)
    return best
