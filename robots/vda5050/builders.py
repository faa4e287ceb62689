"""Builders the service uses to address robots: orders, order updates, instant actions.

Every builder takes the version the robot reported (`answer_version`) and the headerId from the
service's per-topic `HeaderIds`, so each robot is answered in its own protocol version.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from robots.vda5050.actions import action_def
from robots.vda5050.base import answer_version
from robots.vda5050.order import Action, ActionParameter, BlockingType, Edge, InstantActions, Node, NodePosition, Order
from robots.vda5050.topics import RobotId


def make_action(action_type: str, parameters: Mapping[str, Any] | None = None, *,
                action_id: str | None = None, blocking_type: BlockingType | str | None = None,
                description: str | None = None) -> Action:
    """An action; the id defaults to a fresh UUID, the blocking type to the action's declared default."""
    if blocking_type is None:
        d = action_def(action_type)
        blocking_type = d.default_blocking if d is not None else BlockingType.HARD
    return Action(
        action_type=action_type,
        action_id=action_id or str(uuid.uuid4()),
        blocking_type=BlockingType(blocking_type),
        action_description=description,
        action_parameters=[ActionParameter(key=k, value=v) for k, v in (parameters or {}).items()] or None,
    )


@dataclass(frozen=True)
class Waypoint:
    """A node of a route, with the actions to run there."""

    node_id: str
    x: float
    y: float
    map_id: str
    theta: float | None = None
    allowed_deviation_xy: float | None = None
    actions: Sequence[Action] = field(default_factory=tuple)
    description: str | None = None


def build_order(robot: RobotId, order_id: str, waypoints: Sequence[Waypoint], *, timestamp: datetime,
                header_id: int = 0, order_update_id: int = 0, robot_version: str | None = None,
                released: int | None = None, start_sequence_id: int = 0, max_speed: float | None = None,
                edge_actions: Mapping[int, Sequence[Action]] | None = None,
                zone_set_id: str | None = None) -> Order:
    """An order (or an order update) along `waypoints`.

    - `released`: how many leading waypoints form the base (default all); the rest is the horizon.
    - For an update, the first waypoint is the stitching node (the current last base node) and
      `start_sequence_id` its sequenceId; nodes get even, edges odd sequenceIds from there.
    - `edge_actions[i]`: actions on the edge from waypoint i to waypoint i+1.
    - `robot_version`: the version the robot reports; the order is written in the matching version.
    """
    if not waypoints:
        raise ValueError(f"order {order_id!r}: a route needs at least one waypoint")
    n_base = len(waypoints) if released is None else released
    if not 1 <= n_base <= len(waypoints):
        raise ValueError(f"order {order_id!r}: released={released} must be between 1 and {len(waypoints)}")
    nodes = [
        Node(
            node_id=w.node_id,
            sequence_id=start_sequence_id + 2 * i,
            released=i < n_base,
            node_description=w.description,
            node_position=NodePosition(x=w.x, y=w.y, map_id=w.map_id, theta=w.theta,
                                       allowed_deviation_xy=w.allowed_deviation_xy),
            actions=list(w.actions),
        )
        for i, w in enumerate(waypoints)
    ]
    edges = [
        Edge(
            edge_id=f"{a.node_id}->{b.node_id}#{start_sequence_id + 2 * i + 1}",
            sequence_id=start_sequence_id + 2 * i + 1,
            released=i + 1 < n_base,
            start_node_id=a.node_id,
            end_node_id=b.node_id,
            max_speed=max_speed,
            actions=list((edge_actions or {}).get(i, ())),
        )
        for i, (a, b) in enumerate(itertools.pairwise(waypoints))
    ]
    return Order(header_id=header_id, timestamp=timestamp, version=answer_version(robot_version),
                 manufacturer=robot.manufacturer, serial_number=robot.serial_number, order_id=order_id,
                 order_update_id=order_update_id, nodes=nodes, edges=edges, zone_set_id=zone_set_id)


def build_instant_actions(robot: RobotId, actions: Sequence[Action], *, timestamp: datetime,
                          header_id: int = 0, robot_version: str | None = None) -> InstantActions:
    """An instantActions message for `robot` (e.g. `[make_action("cancelOrder")]`)."""
    return InstantActions(header_id=header_id, timestamp=timestamp, version=answer_version(robot_version),
                          manufacturer=robot.manufacturer, serial_number=robot.serial_number,
                          actions=list(actions))
