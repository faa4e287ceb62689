"""What the dispatcher is fed with and what it emits through: plain values and a small command port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from patrol.planner.model import Node
from robots.vda5050.factsheet import Factsheet
from robots.vda5050.order import InstantActions, Order
from robots.vda5050.topics import RobotId


class CommandSink(Protocol):
    """Where orders and instant actions go (the lead wires it to MQTT through robots.vda5050.topics)."""

    def send_order(self, robot_id: str, order: Order) -> None: ...

    def send_instant_actions(self, robot_id: str, actions: InstantActions) -> None: ...


class Mode(StrEnum):
    IDLE = "idle"
    PATROL = "patrol"
    INCIDENT = "incident"
    TO_CHARGER = "to_charger"
    CHARGING = "charging"
    OFFLINE = "offline"


@dataclass(frozen=True)
class RobotInfo:
    """A robot the dispatcher may use: its VDA 5050 identity, declared actions and kinematics."""

    robot_id: str
    vda: RobotId
    version: str = "2.1.0"
    actions: frozenset[str] = frozenset()
    """Action types its factsheet declares; nothing undeclared is ever sent."""
    speed: float = 1.0
    consumption_pct_per_m: float = 0.02
    """Battery percent used per metre driven."""

    @classmethod
    def from_factsheet(
        cls,
        robot_id: str,
        vda: RobotId,
        factsheet: Factsheet,
        version: str = "2.1.0",
        consumption_pct_per_m: float = 0.02,
    ) -> RobotInfo:
        """Declared actions and top speed from the robot's factsheet."""
        actions = frozenset(a.action_type for a in factsheet.protocol_features.agv_actions)
        speed = factsheet.physical_parameters.speed_max
        return cls(robot_id, vda, version, actions, speed if speed > 0 else 1.0, consumption_pct_per_m)


@dataclass(frozen=True)
class RobotStatus:
    """The part of a VDA 5050 state the dispatcher needs (node ids already mapped to graph vertices)."""

    robot_id: str
    order_id: str
    last_node: Node | None
    last_node_sequence_id: int
    battery_pct: float
    charging: bool = False
    driving: bool = False
    action_states: Mapping[str, str] = field(default_factory=dict)
    """actionId -> actionStatus (WAITING, RUNNING, FINISHED, FAILED, ...)."""
    nodes_ahead: int | None = None
    """How many nodes the robot's state still lists (nodeStates); None where unknown."""
    order_update_id: int = 0
    order_nodes: tuple[tuple[Node | None, int, bool], ...] | None = None
    """The state's nodeStates as (vertex, or None for a nodeId not on our graph; sequenceId; released),
    in sequence order; None where unknown. The robot's own view of its order: after a link or broker
    outage the dispatcher resynchronises its bookkeeping from it."""
    report: str | None = None
    """The robot's stamp of the state message this status comes from (its timestamp). A status rebuilt
    from something else (a retained `connection` message after a broker restart) carries the stamp of the
    last state, so the dispatcher can tell a view from before an outage from a fresh report."""

    def base_ahead(self) -> list[tuple[Node | None, int]] | None:
        """The released nodes the robot still has to reach, (vertex, sequenceId) in order; None where unknown."""
        if self.order_nodes is None:
            return None
        return [(v, seq) for v, seq, released in self.order_nodes if released and seq > self.last_node_sequence_id]


@dataclass(frozen=True)
class Incident:
    incident_id: str
    node: Node
    description: str = ""


@dataclass(frozen=True)
class IncidentReport:
    incident_id: str
    robot_id: str
    ok: bool
    t_assigned: float
    t_arrived: float | None
    t_done: float
    actions: Mapping[str, str]
    """actionType -> final actionStatus."""
    outcome: str = "done"
    """done (every action finished), failed (an action failed), offline (the robot was lost on the way or on
    the scene) or recalled (the incident closed before the robot was through)."""
    next_robot: str | None = None
    """The robot sent in its place (after `offline`), if any was available."""
    action_ids: Mapping[str, str] = field(default_factory=dict)
    """actionType -> actionId of the incident's actions (their results, e.g. the photo's URL, are in the
    robot's state)."""


@dataclass(frozen=True)
class IncidentAssignment:
    incident_id: str
    robot_id: str
    route: tuple[Node, ...]
    travel_s: float


@dataclass(frozen=True)
class BatteryPolicy:
    """Return to a charger when the charge would not cover the rest of the lap plus the way to a charger
    plus `reserve_pct`; rejoin at `resume_pct`. Where a lap needs more than `resume_pct` (a long loop), the
    robot patrols on until its charge covers only its committed route and the way to a charger."""

    reserve_pct: float = 15.0
    resume_pct: float = 90.0
    margin: float = 1.2
    """Multiplies the distance-based need (slopes, detours)."""
