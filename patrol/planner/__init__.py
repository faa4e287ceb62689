"""Patrol planning: tours over checkpoints, evenly spaced cyclic patrols, partitions, re-planning.

    from patrol.planner import Planner, PatrolRuntime, Checkpoint, RobotPosition, Strategy
    planner = Planner(graph, checkpoints)              # networkx Graph, edge attr `length` (m)
    plan = planner.plan([RobotPosition("dog1", 3), ...], Strategy.AUTO)
    runtime = PatrolRuntime(planner); runtime.start(positions, now)
    runtime.upcoming("dog1", 5); runtime.reached("dog1", node, now); runtime.hold_s("dog1", now)
    runtime.remove_robot("dog2", now)                  # the others re-plan from where they are

Pure and synchronous; nothing here knows MQTT or the database.
"""

from patrol.planner.idleness import CheckpointIdleness, IdlenessMonitor, IdlenessStats, Visit
from patrol.planner.model import Assignment, Checkpoint, Loop, PatrolPlan, RobotPosition, Strategy
from patrol.planner.paths import GraphError, ShortestPaths
from patrol.planner.planner import Planner
from patrol.planner.policy import ConscientiousReactive, Move, PatrolPolicy, RuntimePolicy
from patrol.planner.runtime import PatrolRuntime

__all__ = [
    "Assignment",
    "Checkpoint",
    "CheckpointIdleness",
    "ConscientiousReactive",
    "GraphError",
    "IdlenessMonitor",
    "IdlenessStats",
    "Loop",
    "Move",
    "PatrolPlan",
    "PatrolPolicy",
    "PatrolRuntime",
    "Planner",
    "RobotPosition",
    "RuntimePolicy",
    "ShortestPaths",
    "Strategy",
    "Visit",
]
