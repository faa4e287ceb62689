"""The robot-side order state machine: pure rules from VDA 5050 2.x, no I/O, no clocks.

It answers: accept, stitch, ignore or reject an incoming order; which node to drive to next and
whether it is released; which actions belong to a node or edge; what the `state` message lists
(nodeStates, edgeStates, actionStates, errors, lastNodeId). The agent drives it; tests call it directly.

Rules implemented (spec 2.x, "Orders and order update", "cancelOrder"):
- a new orderId while idle replaces the order; while an order is active it is accepted only when its
  first node is the current last base node (stitching), else `orderUpdateError`;
- the same orderId with a lower orderUpdateId is an `orderUpdateError`, the same orderUpdateId is
  ignored (a duplicate), a higher one must start at the last base node (nodeId and sequenceId),
  replacing the horizon;
- structure errors (no nodes, edges not joining consecutive nodes, sequenceIds not increasing,
  horizon before base, duplicate actionIds, undeclared action types, missing nodePosition, unsupported
  version) are a `validationError`;
- `cancelOrder` without an active order is `noOrderToCancel`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from robots.vda5050.base import is_supported_version
from robots.vda5050.order import Action, Edge, Node, Order
from robots.vda5050.state import (
    ActionState,
    ActionStatus,
    EdgeState,
    Error,
    ErrorLevel,
    ErrorReference,
    NodeState,
    StateNodePosition,
)

VALIDATION_ERROR = "validationError"
ORDER_UPDATE_ERROR = "orderUpdateError"
NO_ORDER_TO_CANCEL = "noOrderToCancel"
ORDER_ERROR_TYPES = frozenset({VALIDATION_ERROR, ORDER_UPDATE_ERROR, NO_ORDER_TO_CANCEL})
MAX_ERRORS = 20  # a flood of bad messages must not grow the state without bound: oldest dropped


class Verdict(StrEnum):
    ACCEPTED = "ACCEPTED"  # a new order replaced the previous (finished) one
    UPDATED = "UPDATED"  # stitched onto the current order (update or continuation)
    IGNORED = "IGNORED"  # duplicate orderUpdateId
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class OrderDecision:
    verdict: Verdict
    error: Error | None = None

    @property
    def accepted(self) -> bool:
        return self.verdict in (Verdict.ACCEPTED, Verdict.UPDATED)


def make_error(error_type: str, description: str, refs: Mapping[str, str | int | None] | None = None, *,
               level: ErrorLevel = ErrorLevel.WARNING, hint: str | None = None) -> Error:
    """A VDA 5050 error with `referenceKey`/`referenceValue` pairs from `refs` (None values left out)."""
    references = [ErrorReference(reference_key=k, reference_value=str(v))
                  for k, v in (refs or {}).items() if v is not None]
    return Error(error_type=error_type, error_level=level, error_description=description,
                 error_hint=hint, error_references=references or None)


@dataclass
class ActionRecord:
    action: Action
    status: ActionStatus = ActionStatus.WAITING
    result: str | None = None
    #: "NODE", "EDGE" or "INSTANT"; sequence_id of the node or edge it sits on (None for instant)
    scope: str = "NODE"
    sequence_id: int | None = None

    def to_state(self) -> ActionState:
        return ActionState(action_id=self.action.action_id, action_type=self.action.action_type,
                           action_status=self.status, action_description=self.action.action_description,
                           result_description=self.result)


def validate_order(order: Order, *, declared_actions: Collection[str] | None = None,
                   require_positions: bool = True) -> str | None:
    """Why `order` is structurally invalid, or None when it is fine."""
    if not is_supported_version(order.version):
        return f"version {order.version!r} is not supported (2.0.x or 2.1.x)"
    nodes, edges = order.nodes, order.edges
    if not nodes:
        return "order has no nodes"
    if len(edges) != len(nodes) - 1:
        return f"order has {len(nodes)} nodes but {len(edges)} edges; expected {len(nodes) - 1}"
    if not nodes[0].released:
        return f"first node {nodes[0].node_id!r} is not released"
    seen_horizon = False
    prev_seq = -1
    for i, node in enumerate(nodes):
        if i > 0:
            edge = edges[i - 1]
            if edge.start_node_id != nodes[i - 1].node_id or edge.end_node_id != node.node_id:
                return (f"edge {edge.edge_id!r} joins {edge.start_node_id!r}->{edge.end_node_id!r}, "
                        f"expected {nodes[i - 1].node_id!r}->{node.node_id!r}")
            if not prev_seq < edge.sequence_id < node.sequence_id:
                return (f"sequenceIds must increase node, edge, node: "
                        f"edge {edge.edge_id!r} / node {node.node_id!r}")
            if edge.released != node.released:
                return (f"edge {edge.edge_id!r} released={edge.released} "
                        f"but its end node released={node.released}")
        elif node.sequence_id <= prev_seq:
            return "sequenceIds must increase"
        prev_seq = node.sequence_id
        if node.released and seen_horizon:
            return f"released node {node.node_id!r} follows the horizon; the base must come first"
        seen_horizon = seen_horizon or not node.released
        if require_positions and node.node_position is None:
            return f"node {node.node_id!r} has no nodePosition; this robot navigates by position"
    ids: set[str] = set()
    for action in _all_actions(nodes, edges):
        if action.action_id in ids:
            return f"actionId {action.action_id!r} appears twice"
        ids.add(action.action_id)
        if declared_actions is not None and action.action_type not in declared_actions:
            return (f"actionType {action.action_type!r} (actionId {action.action_id!r}) "
                    "is not declared in the factsheet")
    return None


def _all_actions(nodes: Iterable[Node], edges: Iterable[Edge]) -> Iterable[Action]:
    for n in nodes:
        yield from n.actions
    for e in edges:
        yield from e.actions


@dataclass
class OrderStateMachine:
    """Order bookkeeping of one robot. Positions/driving are the agent's; this keeps the rules."""

    declared_actions: Collection[str] | None = None
    require_positions: bool = True
    order_id: str = ""
    order_update_id: int = 0
    last_node_id: str = ""
    last_node_sequence_id: int = 0
    nodes: list[Node] = field(default_factory=list)  # not yet reached, base then horizon
    edges: list[Edge] = field(default_factory=list)  # not yet completed
    actions: dict[str, ActionRecord] = field(default_factory=dict)  # insertion-ordered
    errors: list[Error] = field(default_factory=list)

    # --- queries -------------------------------------------------------------------------------
    @property
    def base_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.released]

    @property
    def last_base_node(self) -> tuple[str, int]:
        """(nodeId, sequenceId) of the last released node: the remaining base end, or the last reached."""
        base = self.base_nodes
        if base:
            return base[-1].node_id, base[-1].sequence_id
        return self.last_node_id, self.last_node_sequence_id

    @property
    def has_pending_actions(self) -> bool:
        return any(not r.status.terminal and r.scope != "INSTANT" for r in self.actions.values())

    @property
    def active(self) -> bool:
        """An order is being executed: released nodes remain or order actions are not finished."""
        return bool(self.base_nodes) or self.has_pending_actions

    @property
    def waiting_for_update(self) -> bool:
        """Base done, horizon remains: the robot waits for the next order update."""
        return not self.base_nodes and bool(self.nodes)

    def next_node(self) -> tuple[Edge | None, Node] | None:
        """The next released node to reach and the edge leading to it (None for an order's first node)."""
        if not self.nodes or not self.nodes[0].released:
            return None
        node = self.nodes[0]
        edge = self.edges[0] if self.edges and self.edges[0].end_node_id == node.node_id else None
        return edge, node

    def actions_at(self, sequence_id: int) -> list[ActionRecord]:
        return [r for r in self.actions.values() if r.sequence_id == sequence_id and r.scope != "INSTANT"]

    def node_states(self) -> list[NodeState]:
        out = []
        for n in self.nodes:
            pos = n.node_position
            out.append(NodeState(
                node_id=n.node_id, sequence_id=n.sequence_id, released=n.released,
                node_description=n.node_description,
                node_position=None if pos is None else StateNodePosition(
                    x=pos.x, y=pos.y, theta=pos.theta, map_id=pos.map_id),
            ))
        return out

    def edge_states(self) -> list[EdgeState]:
        return [EdgeState(edge_id=e.edge_id, sequence_id=e.sequence_id, released=e.released,
                          edge_description=e.edge_description, trajectory=e.trajectory) for e in self.edges]

    def action_states(self) -> list[ActionState]:
        return [r.to_state() for r in self.actions.values()]

    # --- incoming orders ---------------------------------------------------------------------------
    def receive(self, order: Order) -> OrderDecision:
        """Apply the spec's order/update rules to `order`."""
        refs: dict[str, str | int | None] = {"headerId": order.header_id, "orderId": order.order_id,
                "orderUpdateId": order.order_update_id}
        problem = validate_order(order, declared_actions=self.declared_actions,
                                 require_positions=self.require_positions)
        if problem is not None:
            return self._reject(VALIDATION_ERROR, problem, refs)
        same = order.order_id == self.order_id and self.order_id != ""
        if same and order.order_update_id < self.order_update_id:
            return self._reject(ORDER_UPDATE_ERROR,
                                f"orderUpdateId {order.order_update_id} is older than the current "
                                f"{self.order_update_id}", refs)
        if same and order.order_update_id == self.order_update_id:
            return OrderDecision(Verdict.IGNORED)
        first = order.nodes[0]
        if same or self.active or self.waiting_for_update:
            end_id, end_seq = self.last_base_node
            if (first.node_id, first.sequence_id) != (end_id, end_seq):
                return self._reject(
                    ORDER_UPDATE_ERROR,
                    f"order starts at node {first.node_id!r}/{first.sequence_id} but the current base "
                    f"ends at {end_id!r}/{end_seq}; an update must start at the last base node", refs)
            self._stitch(order)
            return OrderDecision(Verdict.UPDATED)
        self._replace(order)
        return OrderDecision(Verdict.ACCEPTED)

    def _reject(self, error_type: str, description: str,
                refs: Mapping[str, str | int | None]) -> OrderDecision:
        err = make_error(error_type, description, refs)
        self.add_error(err)
        return OrderDecision(Verdict.REJECTED, err)

    def _clear_order_errors(self) -> None:
        self.errors = [e for e in self.errors if e.error_type not in ORDER_ERROR_TYPES]

    def _replace(self, order: Order) -> None:
        self._clear_order_errors()
        self.order_id, self.order_update_id = order.order_id, order.order_update_id
        self.nodes, self.edges = list(order.nodes), list(order.edges)
        # a new order drops the previous order's action states; instant actions still running stay
        self.actions = {k: r for k, r in self.actions.items()
                        if r.scope == "INSTANT" and not r.status.terminal}
        self._add_actions(order.nodes, order.edges)

    def _stitch(self, order: Order) -> None:
        self._clear_order_errors()
        stitch_seq = order.nodes[0].sequence_id
        self.order_id, self.order_update_id = order.order_id, order.order_update_id
        # keep everything up to and including the stitching node; the new order replaces the horizon
        kept_nodes = [n for n in self.nodes if n.sequence_id < stitch_seq]
        kept_edges = [e for e in self.edges if e.sequence_id < stitch_seq]
        dropped = {n.sequence_id for n in self.nodes if n.sequence_id > stitch_seq}
        dropped |= {e.sequence_id for e in self.edges if e.sequence_id > stitch_seq}
        self.actions = {k: r for k, r in self.actions.items()
                        if not (r.sequence_id in dropped and r.status == ActionStatus.WAITING)}
        stitch_pending = any(n.sequence_id == stitch_seq for n in self.nodes)
        new_nodes = list(order.nodes) if stitch_pending else list(order.nodes[1:])
        self.nodes = kept_nodes + new_nodes
        self.edges = kept_edges + list(order.edges)
        self._add_actions(new_nodes, order.edges)

    def _add_actions(self, nodes: Iterable[Node], edges: Iterable[Edge]) -> None:
        for n in nodes:
            for a in n.actions:
                self.actions.setdefault(a.action_id, ActionRecord(a, scope="NODE", sequence_id=n.sequence_id))
        for e in edges:
            for a in e.actions:
                self.actions.setdefault(a.action_id, ActionRecord(a, scope="EDGE", sequence_id=e.sequence_id))

    # --- progress ------------------------------------------------------------------------------
    def node_reached(self, node_id: str, sequence_id: int) -> None:
        """The robot reached this node: it and the edge leading to it leave the state lists."""
        self.last_node_id, self.last_node_sequence_id = node_id, sequence_id
        self.nodes = [n for n in self.nodes if n.sequence_id > sequence_id]
        self.edges = [e for e in self.edges if e.sequence_id > sequence_id]

    def set_position_node(self, node_id: str, sequence_id: int = 0) -> None:
        """initPosition: the robot now stands at `node_id` (lastNodeId)."""
        self.last_node_id, self.last_node_sequence_id = node_id, sequence_id

    def set_status(self, action_id: str, status: ActionStatus, result: str | None = None) -> None:
        rec = self.actions.get(action_id)
        if rec is None:
            return
        rec.status = status
        if result is not None:
            rec.result = result

    def add_instant(self, action: Action) -> ActionRecord:
        rec = ActionRecord(action, scope="INSTANT")
        self.actions[action.action_id] = rec
        return rec

    def cancel(self) -> list[str]:
        """cancelOrder: drop remaining nodes/edges, fail unstarted actions; returns running action ids.

        Raises `LookupError` when there is no order to cancel (the caller reports `noOrderToCancel`).
        """
        if not (self.active or self.waiting_for_update):
            raise LookupError("no order to cancel")
        running = []
        for rec in self.actions.values():
            if rec.scope == "INSTANT" or rec.status.terminal:
                continue
            if rec.status == ActionStatus.WAITING:
                rec.status, rec.result = ActionStatus.FAILED, "cancelled before start"
            else:
                running.append(rec.action.action_id)
        self.nodes, self.edges = [], []
        return running

    def add_error(self, error: Error) -> None:
        self.errors.append(error)
        del self.errors[:-MAX_ERRORS]

    def clear_errors(self, error_type: str) -> None:
        self.errors = [e for e in self.errors if e.error_type != error_type]
