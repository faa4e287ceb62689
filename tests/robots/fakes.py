"""FakeKinematicDriver: a small purpose-built Driver for the robots/ tests only.

It moves a point towards each goal at `speed` m/s in clock time, reports a full battery, and runs
actions by sleeping `action_time` clock seconds. The simulator's SimDriver is the real reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from robots.agent.driver import (
    ActionOutcome,
    ActionRequest,
    ActionSpec,
    Battery,
    DriveError,
    DriverFault,
    NodeGoal,
    Pose,
    Velocity,
)
from robots.clock import Clock

PATROL_SPECS = (
    ActionSpec("capturePhoto", "take a photo", ("NODE", "INSTANT"), ("camera", "label"), ("SOFT", "NONE")),
    ActionSpec("scanArea", "look around", ("NODE", "INSTANT"), ("duration",), ("HARD",)),
    ActionSpec("speak", "say a text", ("INSTANT", "NODE"), ("text", "language"), ("NONE",)),
    ActionSpec("initPosition", "set the pose", ("INSTANT",), ("x", "y", "theta", "mapId", "lastNodeId")),
)


@dataclass
class FakeKinematicDriver:
    clock: Clock
    x: float = 0.0
    y: float = 0.0
    theta: float = 0.0
    map_id: str = "park"
    speed: float = 20.0
    step: float = 0.02
    action_time: float = 0.05
    estop_pressed: bool = False
    fault_list: list[DriverFault] = field(default_factory=list)
    blocked_nodes: set[str] = field(default_factory=set)
    actions_run: list[ActionRequest] = field(default_factory=list)
    goals: list[NodeGoal] = field(default_factory=list)
    moving: bool = False
    halts: int = 0

    def pose(self) -> Pose:
        return Pose(self.x, self.y, self.theta, self.map_id)

    def velocity(self) -> Velocity:
        return Velocity(vx=self.speed if self.moving else 0.0)

    def battery(self) -> Battery:
        return Battery(charge=87.5, voltage=25.1, reach_m=4000.0)

    def faults(self) -> Sequence[DriverFault]:
        return list(self.fault_list)

    def estop(self) -> bool:
        return self.estop_pressed

    def supported_actions(self) -> Sequence[ActionSpec]:
        return PATROL_SPECS

    def camera_url(self) -> str | None:
        return "http://127.0.0.1:9/cam/front.mjpg"

    async def drive_to(self, goal: NodeGoal) -> None:
        self.goals.append(goal)
        if goal.node_id in self.blocked_nodes:
            raise DriveError(f"path to {goal.node_id} is blocked")
        self.moving = True
        halts = self.halts
        try:
            while True:
                if self.halts != halts:
                    raise DriveError("stopped by stop()")
                dx, dy = goal.x - self.x, goal.y - self.y
                dist = math.hypot(dx, dy)
                hop = self.speed * self.step
                if dist <= hop:
                    self.x, self.y = goal.x, goal.y
                    break
                self.theta = math.atan2(dy, dx)
                self.x += dx / dist * hop
                self.y += dy / dist * hop
                await self.clock.sleep(self.step)
        finally:
            self.moving = False

    async def stop(self) -> None:
        self.halts += 1
        self.moving = False

    async def run_action(self, action: ActionRequest) -> ActionOutcome:
        self.actions_run.append(action)
        if action.action_type == "initPosition":
            p = action.parameters
            self.x, self.y, self.theta = float(p["x"]), float(p["y"]), float(p["theta"])
            return ActionOutcome(True, "position set")
        await self.clock.sleep(self.action_time)
        if action.action_type == "capturePhoto":
            return ActionOutcome(True, f"photo:{action.action_id}")
        return ActionOutcome(True, "done")
