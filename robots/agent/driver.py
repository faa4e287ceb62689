"""The `Driver` protocol: what a robot vendor implements so `robots.agent` can run the robot.

The agent speaks VDA 5050 over MQTT; the driver moves the real (or simulated) body.
All coordinates are in the park's local metric frame (metres, x east, y north, theta in
radians counter-clockwise from east), the same frame as VDA 5050 `nodePosition`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    theta: float
    map_id: str
    localized: bool = True
    deviation: float = 0.0


@dataclass(frozen=True)
class Velocity:
    vx: float = 0.0
    vy: float = 0.0
    omega: float = 0.0


@dataclass(frozen=True)
class Battery:
    charge: float  # percent, 0..100
    charging: bool = False
    voltage: float | None = None
    reach_m: float | None = None


@dataclass(frozen=True)
class NodeGoal:
    """Drive to this node (its position), optionally along an edge with a speed limit."""

    node_id: str
    x: float
    y: float
    map_id: str
    theta: float | None = None
    allowed_deviation_xy: float = 0.5
    edge_id: str | None = None
    max_speed: float | None = None


@dataclass(frozen=True)
class ActionRequest:
    action_id: str
    action_type: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionOutcome:
    ok: bool
    result_description: str = ""


@dataclass(frozen=True)
class ActionSpec:
    """An action the robot can run, declared in its factsheet."""

    action_type: str
    description: str
    scopes: tuple[str, ...] = ("INSTANT", "NODE")
    parameters: tuple[str, ...] = ()
    blocking_types: tuple[str, ...] = ("HARD",)


@dataclass(frozen=True)
class DriverFault:
    """A condition the driver reports; the agent maps it to a VDA 5050 error."""

    error_type: str
    level: str  # "WARNING" or "FATAL"
    description: str = ""


class DriveError(Exception):
    """The driver could not reach the goal (blocked, stuck, e-stop, localisation lost)."""


@runtime_checkable
class Driver(Protocol):
    """Implemented by a robot vendor's bridge (e.g. a Unitree Go2 SDK) or the simulator."""

    def pose(self) -> Pose: ...

    def velocity(self) -> Velocity: ...

    def battery(self) -> Battery: ...

    def faults(self) -> Sequence[DriverFault]: ...

    def estop(self) -> bool:
        """True while the robot's emergency stop is pressed."""
        ...

    def supported_actions(self) -> Sequence[ActionSpec]: ...

    def camera_url(self) -> str | None: ...

    async def drive_to(self, goal: NodeGoal) -> None:
        """Return on arrival; raise `DriveError` on failure; stop promptly when cancelled."""
        ...

    async def stop(self) -> None: ...

    async def run_action(self, action: ActionRequest) -> ActionOutcome:
        """Run one action to completion; stop promptly when cancelled."""
        ...
