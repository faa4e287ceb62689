"""OrderStateMachine: the spec's order, update, stitching, rejection and cancel rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from robots.vda5050.builders import Waypoint, build_order, make_action
from robots.vda5050.order import Order
from robots.vda5050.orders import (
    NO_ORDER_TO_CANCEL,
    ORDER_UPDATE_ERROR,
    VALIDATION_ERROR,
    OrderStateMachine,
    Verdict,
    validate_order,
)
from robots.vda5050.state import ActionStatus
from robots.vda5050.topics import RobotId

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
ROBOT = RobotId("Acme", "dog-1")


def route(order_id: str, names: str, *, update: int = 0, start_seq: int = 0, released: int | None = None,
          actions: dict[str, list[str]] | None = None) -> Order:
    wps = [Waypoint(n, float(i), 0.0, "park",
                    actions=[make_action("scanArea", action_id=a) for a in (actions or {}).get(n, [])])
           for i, n in enumerate(names)]
    return build_order(ROBOT, order_id, wps, timestamp=T0, order_update_id=update, start_sequence_id=start_seq,
                       released=released)


def drive_all(sm: OrderStateMachine) -> None:
    while (step := sm.next_node()) is not None:
        sm.node_reached(step[1].node_id, step[1].sequence_id)


def test_new_order_accepted_and_walked() -> None:
    sm = OrderStateMachine()
    assert sm.receive(route("o1", "abc", actions={"b": ["x"]})).verdict is Verdict.ACCEPTED
    assert [n.node_id for n in sm.nodes] == ["a", "b", "c"] and sm.active
    edge, node = sm.next_node() or (None, None)
    assert edge is None and node is not None and node.node_id == "a"
    sm.node_reached("a", 0)
    edge, node = sm.next_node() or (None, None)
    assert edge is not None and edge.edge_id.startswith("a->b") and node is not None and node.node_id == "b"
    sm.node_reached("b", 2)
    assert [r.action.action_id for r in sm.actions_at(2)] == ["x"]
    sm.set_status("x", ActionStatus.FINISHED, "clear")
    sm.node_reached("c", 4)
    assert not sm.active and sm.nodes == [] and sm.edges == []
    assert (sm.last_node_id, sm.last_node_sequence_id) == ("c", 4)
    assert sm.action_states()[0].result_description == "clear"


def test_duplicate_update_ignored_and_older_rejected() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "abc", released=2))
    sm.node_reached("a", 0)
    upd = route("o1", "bcd", update=1, start_seq=2)
    assert sm.receive(upd).verdict is Verdict.UPDATED
    assert sm.receive(upd).verdict is Verdict.IGNORED
    d = sm.receive(route("o1", "bcd", update=0, start_seq=2))
    assert d.verdict is Verdict.REJECTED and d.error is not None and d.error.error_type == ORDER_UPDATE_ERROR
    refs = {r.reference_key: r.reference_value for r in d.error.error_references or []}
    assert refs["orderId"] == "o1" and refs["orderUpdateId"] == "0"


def test_update_stitches_on_last_base_node_replacing_horizon() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "abcd", released=2, actions={"d": ["gone"]}))  # base a,b; horizon c,d
    sm.node_reached("a", 0)
    assert sm.last_base_node == ("b", 2)
    d = sm.receive(route("o1", "bxy", update=1, start_seq=2, actions={"b": ["at-b"], "y": ["at-y"]}))
    assert d.verdict is Verdict.UPDATED
    assert [(n.node_id, n.sequence_id, n.released) for n in sm.nodes] == [("b", 2, True), ("x", 4, True),
                                                                          ("y", 6, True)]
    assert [e.sequence_id for e in sm.edges] == [1, 3, 5]
    assert set(sm.actions) == {"at-b", "at-y"}  # the dropped horizon's waiting action is gone
    drive_all(sm)
    assert sm.last_node_id == "y"


def test_update_not_on_last_base_node_is_rejected() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "abc"))
    d = sm.receive(route("o1", "bcd", update=1, start_seq=2))  # base ends at c/4, not b/2
    assert d.error is not None and d.error.error_type == ORDER_UPDATE_ERROR
    assert [n.node_id for n in sm.nodes] == ["a", "b", "c"]


def test_new_order_while_active_must_stitch() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "ab"))
    d = sm.receive(route("o2", "xy"))
    assert d.verdict is Verdict.REJECTED and d.error is not None and d.error.error_type == ORDER_UPDATE_ERROR
    assert sm.receive(route("o2", "bz", start_seq=2)).verdict is Verdict.UPDATED
    assert sm.order_id == "o2"
    drive_all(sm)
    assert sm.receive(route("o3", "pq")).verdict is Verdict.ACCEPTED  # idle: a fresh order replaces
    assert not sm.errors  # accepting an order clears the order errors


def test_update_after_base_done_continues_from_last_node() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "abc", released=2))
    drive_all(sm)
    assert sm.waiting_for_update and not sm.active and sm.last_node_id == "b"
    assert sm.receive(route("o1", "bc", update=1, start_seq=2)).verdict is Verdict.UPDATED
    assert [n.node_id for n in sm.nodes] == ["c"]
    drive_all(sm)
    assert sm.last_node_id == "c" and not sm.waiting_for_update


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(nodes=[]), "no nodes"),
    (lambda d: d["edges"].pop(), "edges"),
    (lambda d: d["edges"][0].update(endNodeId="zz"), "joins"),
    (lambda d: d["nodes"][2].update(sequenceId=1), "sequenceIds"),
    (lambda d: d["nodes"][0].update(released=False), "first node"),
    (lambda d: (d["nodes"][1].update(released=False), d["edges"][0].update(released=False)), "base must come first"),
    (lambda d: d["nodes"][1].pop("nodePosition"), "nodePosition"),
    (lambda d: d["nodes"][2]["actions"].append(dict(d["nodes"][1]["actions"][0])), "twice"),
    (lambda d: d["nodes"][1]["actions"][0].update(actionType="fly"), "factsheet"),
    (lambda d: d.update(version="1.1.0"), "version"),
])
def test_invalid_orders_are_validation_errors(mutate: object, message: str) -> None:
    d = route("o1", "abc", actions={"b": ["x"]}).to_dict()
    mutate(d)  # type: ignore[operator]
    order = Order.model_validate(d)
    problem = validate_order(order, declared_actions={"scanArea"})
    assert problem is not None and message in problem
    sm = OrderStateMachine(declared_actions={"scanArea"})
    decision = sm.receive(order)
    assert decision.error is not None and decision.error.error_type == VALIDATION_ERROR
    assert sm.order_id == ""


def test_cancel_fails_waiting_actions_and_reports_running() -> None:
    sm = OrderStateMachine()
    sm.receive(route("o1", "abc", actions={"a": ["run"], "c": ["wait"]}))
    sm.node_reached("a", 0)
    sm.set_status("run", ActionStatus.RUNNING)
    assert sm.cancel() == ["run"]
    assert sm.actions["wait"].status is ActionStatus.FAILED
    assert sm.nodes == [] and sm.edges == [] and not sm.base_nodes
    sm.set_status("run", ActionStatus.FAILED, "cancelled")
    with pytest.raises(LookupError):
        sm.cancel()
    assert NO_ORDER_TO_CANCEL == "noOrderToCancel"


def test_error_list_is_bounded() -> None:
    sm = OrderStateMachine()
    for i in range(100):
        sm.receive(route(f"bad{i}", "a").model_copy(update={"version": "9.9.9"}))
    assert len(sm.errors) == 20
    assert sm.errors[-1].error_references and sm.errors[-1].error_references[1].reference_value == "bad99"
