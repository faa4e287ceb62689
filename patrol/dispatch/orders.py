"""One robot's order over time: a base released a few nodes ahead, a horizon, and order updates."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from patrol.planner.model import Node
from robots.vda5050.base import utc_now_from
from robots.vda5050.builders import Waypoint, build_order
from robots.vda5050.order import Action, Order
from robots.vda5050.topics import RobotId


@dataclass(frozen=True)
class NodeGeometry:
    """How a graph vertex appears in an order: its id string and position."""

    node_ids: Mapping[Node, str]
    positions: Mapping[Node, tuple[float, float]]
    map_id: str

    @cached_property
    def _by_id(self) -> dict[str, Node]:
        return {v: k for k, v in self.node_ids.items()}

    def node_of(self, node_id: str) -> Node | None:
        """The vertex of a VDA 5050 nodeId (None if it is not one of ours)."""
        return self._by_id.get(node_id)

    @classmethod
    def from_graph(cls, graph: nx.Graph, map_id: str) -> NodeGeometry:
        """Node ids are the vertex ids as strings; positions the `x`, `y` vertex attributes (metres)."""
        return cls(
            node_ids={v: str(v) for v in graph.nodes},
            positions={v: (float(d.get("x", 0.0)), float(d.get("y", 0.0))) for v, d in graph.nodes(data=True)},
            map_id=map_id,
        )

    def waypoint(self, node: Node, actions: Sequence[Action] = ()) -> Waypoint:
        x, y = self.positions[node]
        return Waypoint(node_id=self.node_ids[node], x=x, y=y, map_id=self.map_id, actions=tuple(actions))


_order_seq = itertools.count(1)


class OrderStream:
    """Order bookkeeping for one robot: which nodes are released (with sequenceIds) and not yet reached.

    `start()` makes a new order from where the robot stands; `extend()` makes an order update that
    stitches at the last base node, releases more nodes and replaces the horizon.
    """

    def __init__(self, robot: RobotId, version: str, geometry: NodeGeometry) -> None:
        self.robot = robot
        self.version = version
        self.geometry = geometry
        self.order_id = ""
        self.update_id = 0
        self.released: deque[tuple[Node, int]] = deque()  # released, not yet reached
        self.last: tuple[Node, int] | None = None  # last reached node and its sequenceId
        self.header_id = 0

    def _next_header(self) -> int:
        self.header_id += 1
        return self.header_id

    @property
    def base_end(self) -> tuple[Node, int] | None:
        return self.released[-1] if self.released else self.last

    def start(
        self,
        at: Node,
        base: Sequence[Node],
        horizon: Sequence[Node],
        now: float,
        actions: Callable[[Node], Sequence[Action]],
        tag: str = "patrol",
    ) -> Order:
        """A new order from vertex `at` (where the robot stands, or its current base end).

        Starting at the current base end, the new order stitches onto the running one: its first node
        keeps the base end's sequenceId, so the robot accepts it without waiting for a cancel.
        """
        stitch = self.base_end
        if self.released and stitch is not None and stitch[0] != at:
            # VDA 5050: while released nodes remain, a new orderId is accepted only when it stitches onto
            # the base end; anything else the robot refuses with an orderUpdateError
            raise ValueError(
                f"robot {self.robot}: a new order from {at!r} would not stitch onto the released base "
                f"ending at {stitch[0]!r}/{stitch[1]}; start it there or wait until the robot gets there"
            )
        first_seq = stitch[1] if stitch is not None and stitch[0] == at else 0
        self.order_id = f"{tag}-{self.robot.serial_number}-{next(_order_seq)}"
        self.update_id = 0
        route = [at, *base, *horizon]
        order = build_order(
            self.robot,
            self.order_id,
            [self.geometry.waypoint(v, actions(v) if i else ()) for i, v in enumerate(route)],
            timestamp=utc_now_from(now),
            header_id=self._next_header(),
            robot_version=self.version,
            released=1 + len(base),
            start_sequence_id=first_seq,
        )
        self.last = None
        self.released = deque((v, first_seq + 2 * i) for i, v in enumerate([at, *base]))
        return order

    def extend(
        self, base: Sequence[Node], horizon: Sequence[Node], now: float, actions: Callable[[Node], Sequence[Action]]
    ) -> Order:
        """An order update: stitch at the last base node, release `base`, replace the horizon."""
        stitch = self.base_end
        if stitch is None:
            raise RuntimeError(f"robot {self.robot}: no order to update; start one first")
        self.update_id += 1
        route = [stitch[0], *base, *horizon]
        order = build_order(
            self.robot,
            self.order_id,
            [self.geometry.waypoint(v, actions(v) if i else ()) for i, v in enumerate(route)],
            timestamp=utc_now_from(now),
            header_id=self._next_header(),
            robot_version=self.version,
            order_update_id=self.update_id,
            released=1 + len(base),
            start_sequence_id=stitch[1],
        )
        for i, v in enumerate(base, start=1):
            self.released.append((v, stitch[1] + 2 * i))
        return order

    def adopt(
        self, order_id: str, update_id: int, last: tuple[Node, int] | None, base: Sequence[tuple[Node, int]]
    ) -> None:
        """Take the robot's report as the bookkeeping: its order, released nodes still ahead, last node.

        After an outage what reached the robot is unknown (an update sent while the broker was away may
        be lost, or delivered late); its state is the truth. The next update then stitches where the
        robot's base really ends. orderUpdateIds go on from the higher of the two, so an update of ours
        still in flight is older than any sent from here on (the robot refuses it, never the new one).
        """
        same = order_id == self.order_id
        self.order_id = order_id
        self.update_id = max(update_id, self.update_id) if same else update_id
        self.last = last
        self.released = deque(base)

    def progress(self, order_id: str, last_sequence_id: int) -> list[Node]:
        """The robot reports its last node's sequenceId: the released nodes it has now reached, in order."""
        if order_id != self.order_id:
            return []
        reached: list[Node] = []
        while self.released and self.released[0][1] <= last_sequence_id:
            self.last = self.released.popleft()
            reached.append(self.last[0])
        return reached
