"""`order` and `instantActions` messages (master control -> robot)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from robots.vda5050.base import Header, VdaModel

_PI = 3.14159265359


class BlockingType(StrEnum):
    NONE = "NONE"
    SOFT = "SOFT"
    HARD = "HARD"


class ActionParameter(VdaModel):
    key: str
    value: list[Any] | bool | int | float | str | dict[str, Any]


class Action(VdaModel):
    action_type: str
    action_id: str
    blocking_type: BlockingType
    action_description: str | None = None
    action_parameters: list[ActionParameter] | None = None

    def parameter(self, key: str, default: Any = None) -> Any:
        """The value of parameter `key`, or `default`."""
        for p in self.action_parameters or ():
            if p.key == key:
                return p.value
        return default

    def parameters_dict(self) -> dict[str, Any]:
        return {p.key: p.value for p in self.action_parameters or ()}


class NodePosition(VdaModel):
    x: float
    y: float
    map_id: str
    theta: float | None = Field(default=None, ge=-_PI, le=_PI)
    allowed_deviation_xy: float | None = Field(default=None, ge=0)
    allowed_deviation_theta: float | None = Field(default=None, ge=-3.141592654, le=3.141592654)
    map_description: str | None = None


class Node(VdaModel):
    node_id: str
    sequence_id: int = Field(ge=0)
    released: bool
    actions: list[Action] = Field(default_factory=list)
    node_description: str | None = None
    node_position: NodePosition | None = None


class ControlPoint(VdaModel):
    x: float
    y: float
    weight: float | None = Field(default=None, ge=0)


class Trajectory(VdaModel):
    degree: int = Field(ge=1)
    knot_vector: list[float]
    control_points: list[ControlPoint]


class Corridor(VdaModel):
    """2.1 only: the corridor the robot may deviate into around the edge."""

    left_width: float = Field(ge=0)
    right_width: float = Field(ge=0)
    corridor_ref_point: str | None = None


class Edge(VdaModel):
    edge_id: str
    sequence_id: int = Field(ge=0)
    released: bool
    start_node_id: str
    end_node_id: str
    actions: list[Action] = Field(default_factory=list)
    edge_description: str | None = None
    max_speed: float | None = None
    max_height: float | None = None
    min_height: float | None = None
    orientation: float | None = Field(default=None, ge=-_PI, le=_PI)
    orientation_type: str | None = None
    direction: str | None = None
    rotation_allowed: bool | None = None
    max_rotation_speed: float | None = None
    length: float | None = None
    trajectory: Trajectory | None = None
    corridor: Corridor | None = None


class Order(Header):
    order_id: str
    order_update_id: int = Field(ge=0)
    nodes: list[Node]
    edges: list[Edge]
    zone_set_id: str | None = None


class InstantActions(Header):
    actions: list[Action]
