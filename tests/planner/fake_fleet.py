"""FakeFleet: a purpose-built stand-in for robots executing VDA 5050 orders, for dispatcher tests.

It follows released nodes at a fixed speed on a simulated clock, finishes node actions on arrival,
drains and charges batteries, and answers with `RobotStatus` values. Every order also goes through
the robot side's real acceptance rules (`robots.vda5050.orders.OrderStateMachine`, the agent's
own): an order a robot would refuse is recorded in `refused` and not executed, as a robot would.
It is not the simulator (that speaks MQTT like hardware); it exists so the dispatcher's rules can
be tested quickly and exactly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from patrol.dispatch.model import RobotStatus
from patrol.dispatch.orders import NodeGeometry
from patrol.planner.model import Node
from patrol.planner.paths import ShortestPaths
from robots.vda5050.order import InstantActions, Order
from robots.vda5050.orders import OrderStateMachine
from robots.vda5050.state import ActionStatus


@dataclass
class FakeRobot:
    robot_id: str
    node: Node
    battery: float = 100.0
    order_id: str = ""
    update_id: int = -1
    last_seq: int = 0
    queue: list[tuple[str, Node, int, list[str]]] = field(default_factory=list)  # order, node, seq, action ids
    leg_m: float = 0.0
    charging: bool = False
    paused: bool = False
    online: bool = True
    deaf: bool = False
    """Orders and instant actions to it are lost (its link is down, or its new clean session has not
    subscribed yet) while it goes on driving what it holds and reporting."""
    action_states: dict[str, str] = field(default_factory=dict)
    visits: list[tuple[float, Node]] = field(default_factory=list)
    rules: OrderStateMachine = field(default_factory=OrderStateMachine)

    def drop_order(self) -> None:
        """The robot lost its order (e.g. restarted while offline): nothing left to drive."""
        self.queue.clear()
        self.rules.nodes, self.rules.edges = [], []
        self.rules.actions.clear()


class FakeFleet:
    """Robots on a graph, driven by the orders a `CommandSink` receives (this class is the sink)."""

    def __init__(
        self,
        paths: ShortestPaths,
        geometry: NodeGeometry,
        speed: float = 1.0,
        drain_pct_per_m: float = 0.02,
        charge_pct_per_s: float = 1.0,
    ) -> None:
        self.paths = paths
        self.geometry = geometry
        self.speed = speed
        self.drain = drain_pct_per_m
        self.charge_rate = charge_pct_per_s
        self.robots: dict[str, FakeRobot] = {}
        self.orders: list[tuple[str, Order]] = []
        self.instant: list[tuple[str, InstantActions]] = []
        self.refused: list[tuple[str, str]] = []  # (robot, why) for orders the robot side refused
        self.reports = 0  # stamps each status like a state message's timestamp

    def add(self, robot_id: str, node: Node, battery: float = 100.0) -> FakeRobot:
        r = FakeRobot(robot_id, node, battery)
        r.rules.set_position_node(self.geometry.node_ids[node])
        self.robots[robot_id] = r
        return r

    # -- CommandSink ---------------------------------------------------------------------------
    def send_order(self, robot_id: str, order: Order) -> None:
        self.orders.append((robot_id, order))
        r = self.robots[robot_id]
        if not r.online or r.deaf:
            return
        decision = r.rules.receive(order)
        if not decision.accepted:
            if decision.error is not None:
                self.refused.append((robot_id, decision.error.error_description or decision.error.error_type))
            return
        released = [n for n in order.nodes if n.released]
        nodes = [(self.geometry.node_of(n.node_id), n.sequence_id, [a.action_id for a in n.actions]) for n in released]
        if order.order_id == r.order_id or any(q[0] == order.order_id for q in r.queue):
            assert order.order_update_id > r.update_id, "order update ids must increase"
            r.update_id = order.order_update_id
            queued = [q[2] for q in r.queue if q[0] == order.order_id]
            known = max([*queued, r.last_seq if r.order_id == order.order_id else -1])
            for node, seq, acts in nodes:
                if seq > known:
                    r.queue.append((order.order_id, node, seq, acts))
            return
        # a new order: its first node is where the robot stands or the end of its current base
        first, rest = nodes[0], nodes[1:]
        if r.queue and r.queue[-1][1] == first[0]:
            r.queue[-1] = (order.order_id, first[0], first[1], r.queue[-1][3] + first[2])
        else:
            assert not r.queue and r.node == first[0], f"{robot_id}: new order does not start where it stands"
            r.order_id, r.last_seq = order.order_id, first[1]
            r.rules.node_reached(order.nodes[0].node_id, first[1])
            self._finish(r, first[2])
        r.update_id = order.order_update_id
        r.queue.extend((order.order_id, n, s, a) for n, s, a in rest)

    def send_instant_actions(self, robot_id: str, actions: InstantActions) -> None:
        self.instant.append((robot_id, actions))
        r = self.robots[robot_id]
        if not r.online or r.deaf:  # lost, like an order
            return
        for a in actions.actions:
            if a.action_type == "startCharging":
                r.charging = True
            elif a.action_type == "stopCharging":
                r.charging = False
            elif a.action_type == "startPause":
                r.paused = True
            elif a.action_type == "stopPause":
                r.paused = False
            elif a.action_type == "cancelOrder":
                r.queue.clear()
                with contextlib.suppress(LookupError):  # nothing to cancel: the robot reports an error
                    r.rules.cancel()
            r.rules.add_instant(a)
            r.rules.set_status(a.action_id, ActionStatus.FINISHED)
            r.action_states[a.action_id] = "FINISHED"

    # -- simulation ----------------------------------------------------------------------------
    def step(self, dt: float, now: float) -> None:
        for r in self.robots.values():
            if not r.online:
                continue
            if r.charging:
                r.battery = min(100.0, r.battery + self.charge_rate * dt)
                continue
            budget = self.speed * dt
            while budget > 1e-12 and r.queue and not r.paused:
                order_id, node, seq, acts = r.queue[0]
                leg = self.paths.dist(r.node, node)
                step = min(budget, leg - r.leg_m)
                r.leg_m += step
                budget -= step
                r.battery -= step * self.drain
                if r.leg_m >= leg - 1e-9:
                    r.queue.pop(0)
                    r.node, r.leg_m, r.order_id, r.last_seq = node, 0.0, order_id, seq
                    r.visits.append((now + dt - budget / self.speed, node))
                    r.rules.node_reached(self.geometry.node_ids[node], seq)
                    self._finish(r, acts)

    def _finish(self, r: FakeRobot, action_ids: list[str]) -> None:
        for a in action_ids:
            r.action_states[a] = "FINISHED"
            r.rules.set_status(a, ActionStatus.FINISHED)

    def status(self, robot_id: str) -> RobotStatus:
        r = self.robots[robot_id]
        self.reports += 1
        return RobotStatus(
            robot_id=robot_id,
            order_id=r.rules.order_id,  # the newest accepted, as the agent reports
            last_node=r.node,
            last_node_sequence_id=r.last_seq,
            battery_pct=r.battery,
            charging=r.charging,
            driving=bool(r.queue) and not r.paused,
            action_states=dict(r.action_states),
            nodes_ahead=len(r.rules.nodes),  # base and horizon, as the agent's nodeStates
            order_update_id=r.rules.order_update_id,
            order_nodes=tuple((self.geometry.node_of(n.node_id), n.sequence_id, n.released) for n in r.rules.nodes),
            report=f"state-{self.reports}",
        )
