"""AgentCore on a simulated clock, without MQTT: pause, cancel, e-stop, faults, drive errors, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from robots.agent import AgentConfig, AgentCore, DriverFault
from robots.clock import SimClock
from robots.vda5050.base import VdaModel
from robots.vda5050.builders import Waypoint, build_instant_actions, build_order, make_action
from robots.vda5050.state import State
from robots.vda5050.topics import RobotId, VdaTopic
from tests.robots.fakes import FakeKinematicDriver

ROBOT = RobotId("Acme", "dog-1")
T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


class Harness:
    def __init__(self, version: str = "2.1.0") -> None:
        self.clock = SimClock(start=1_795_000_000.0)
        self.driver = FakeKinematicDriver(self.clock, speed=2.0, step=0.1, action_time=1.0)
        self.sent: list[tuple[VdaTopic, VdaModel]] = []
        config = AgentConfig(manufacturer="Acme", serial_number="dog-1", version=version, state_interval=5.0,
                             visualization_interval=1.0, drive_retry_interval=2.0)
        self.core = AgentCore(self.driver, config, self.clock, self._publish)

    async def _publish(self, topic: VdaTopic, msg: VdaModel) -> None:
        self.sent.append((topic, msg))

    @property
    def state(self) -> State:
        return self.core.build_state()

    def statuses(self) -> dict[str, str]:
        return {a.action_id: a.action_status.value for a in self.state.action_states}

    async def until(self, pred: Callable[[], bool], limit: float = 120.0) -> None:
        start = self.clock.now()
        while not pred():
            assert self.clock.now() - start < limit, "condition not reached in simulated time"
            await self.clock.advance(0.05)
            for _ in range(5):
                await asyncio.sleep(0)

    async def order(self, order_id: str, points: list[tuple[str, float, float]], **kw: Any) -> None:
        wps = [Waypoint(n, x, y, "park", actions=kw.pop(n, [])) for n, x, y in points]
        o = build_order(ROBOT, order_id, wps, timestamp=T0, robot_version=self.core.config.version, **kw)
        await self.core.handle_order(o.to_json())

    async def instant(self, *actions: Any) -> None:
        msg = build_instant_actions(ROBOT, list(actions), timestamp=T0, robot_version=self.core.config.version)
        await self.core.handle_instant_actions(msg.to_json())


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    task = asyncio.create_task(harness.core.run())
    try:
        yield harness
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _validate_sent(h: Harness, validate_vda: Callable[[str, Any], None]) -> None:
    assert h.sent
    for topic, msg in h.sent:
        validate_vda(topic.value, msg.to_dict())


async def test_pause_pauses_driving_and_actions(h: Harness, validate_vda: Callable[[str, Any], None]) -> None:
    scan = make_action("scanArea", action_id="scan")
    await h.order("o1", [("a", 0, 0), ("b", 4, 0), ("c", 8, 0)], b=[scan])
    await h.until(lambda: h.statuses().get("scan") == "RUNNING")
    await h.instant(make_action("startPause", action_id="p1"))
    assert h.statuses()["scan"] == "PAUSED" and h.state.paused and h.statuses()["p1"] == "FINISHED"
    x = h.driver.x
    await h.clock.advance(5.0)
    assert h.driver.x == x and h.statuses()["scan"] == "PAUSED" and not h.state.driving
    await h.instant(make_action("stopPause", action_id="p2"))
    await h.until(lambda: h.state.last_node_id == "c")
    assert h.statuses()["scan"] == "FINISHED" and not h.state.paused
    assert sum(1 for a in h.driver.actions_run if a.action_id == "scan") == 2  # restarted after the pause
    _validate_sent(h, validate_vda)


async def test_cancel_order_stops_and_fails_actions(h: Harness, validate_vda: Callable[[str, Any], None]) -> None:
    await h.instant(make_action("cancelOrder", action_id="c0"))
    s = h.state
    assert h.statuses()["c0"] == "FAILED" and [e.error_type for e in s.errors] == ["noOrderToCancel"]
    await h.order("o1", [("a", 0, 0), ("b", 10, 0), ("c", 20, 0)],
                  c=[make_action("capturePhoto", action_id="photo")])
    await h.until(lambda: h.state.driving and h.driver.x > 1)
    await h.instant(make_action("cancelOrder", action_id="c1"))
    s = h.state
    assert h.statuses()["c1"] == "FINISHED" and h.statuses()["photo"] == "FAILED"
    assert s.node_states == [] and not s.driving and s.order_id == "o1"
    x = h.driver.x
    await h.clock.advance(3.0)
    assert h.driver.x == x
    # a fresh order is accepted after the cancel and clears the order errors
    await h.order("o2", [("d", x, 0)])
    await h.until(lambda: h.state.last_node_id == "d")
    assert not h.state.errors
    _validate_sent(h, validate_vda)


async def test_estop_and_fatal_fault_hold_the_robot(h: Harness) -> None:
    h.driver.estop_pressed = True
    await h.order("o1", [("a", 0, 0), ("b", 6, 0)])
    await h.clock.advance(3.0)
    assert h.state.safety_state.e_stop.value == "MANUAL" and h.driver.x == 0 and h.state.last_node_id == ""
    h.driver.estop_pressed = False
    await h.until(lambda: h.driver.x > 1)
    h.driver.fault_list.append(DriverFault("motorOverheat", "FATAL", "left front leg motor at 95 C"))
    await h.clock.advance(1.0)
    x = h.driver.x
    await h.clock.advance(3.0)
    assert h.driver.x == x
    assert [(e.error_type, e.error_level.value) for e in h.state.errors] == [("motorOverheat", "FATAL")]
    h.driver.fault_list.clear()
    await h.until(lambda: h.state.last_node_id == "b")


async def test_drive_error_is_reported_and_retried(h: Harness) -> None:
    h.driver.blocked_nodes.add("b")
    await h.order("o1", [("a", 0, 0), ("b", 3, 0)])
    await h.until(lambda: any(e.error_type == "driveError" for e in h.state.errors))
    err = next(e for e in h.state.errors if e.error_type == "driveError")
    assert err.error_references and err.error_references[0].reference_value == "b"
    h.driver.blocked_nodes.clear()
    await h.until(lambda: h.state.last_node_id == "b")
    assert not h.state.errors


async def test_bad_input_becomes_validation_errors(h: Harness) -> None:
    await h.core.handle_order(b"{not json")
    await h.core.handle_order(b'{"headerId": 1}')
    wrong = build_order(RobotId("Acme", "dog-2"), "o", [Waypoint("a", 0, 0, "m")], timestamp=T0)
    await h.core.handle_order(wrong.to_json())
    await h.core.handle_instant_actions(b"[]")
    await h.core.handle_order(b" " * 2_000_000)
    errors = h.state.errors
    assert [e.error_type for e in errors] == ["validationError"] * 5
    assert "dog-2" in (errors[2].error_description or "")
    await h.instant(make_action("dock", action_id="d1"))  # not declared by this driver
    assert h.statuses()["d1"] == "FAILED"


async def test_init_position_and_requests(h: Harness, validate_vda: Callable[[str, Any], None]) -> None:
    await h.instant(make_action("initPosition", {"x": 5.0, "y": 1.0, "theta": 0.5, "mapId": "park",
                                                 "lastNodeId": "gate"}, action_id="i1"),
                    make_action("factsheetRequest", action_id="f1"))
    await h.until(lambda: h.statuses().get("i1") == "FINISHED")
    s = h.state
    assert s.last_node_id == "gate" and s.agv_position is not None and s.agv_position.x == 5.0
    assert any(t is VdaTopic.FACTSHEET for t, _ in h.sent)
    await h.clock.advance(6.0)  # periodic state and visualization
    assert any(t is VdaTopic.VISUALIZATION for t, _ in h.sent)
    _validate_sent(h, validate_vda)


async def test_version_2_0_robot(validate_vda: Callable[[str, Any], None]) -> None:
    h = Harness(version="2.0.0")
    task = asyncio.create_task(h.core.run())
    try:
        await h.order("o1", [("a", 0, 0), ("b", 1, 0)])
        await h.until(lambda: h.state.last_node_id == "b")
        assert h.state.version == "2.0.0"
        _validate_sent(h, validate_vda)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_horizon_waits_for_update_then_continues(h: Harness, validate_vda: Callable[[str, Any], None]) -> None:
    await h.order("o1", [("a", 0, 0), ("b", 2, 0), ("c", 4, 0)], released=2)
    await h.until(lambda: h.state.last_node_id == "b")
    await h.clock.advance(2.0)
    s = h.state
    assert s.new_base_request is True and [n.node_id for n in s.node_states] == ["c"] and h.driver.x == 2.0
    upd = build_order(ROBOT, "o1", [Waypoint("b", 2, 0, "park"), Waypoint("c", 4, 0, "park"),
                                    Waypoint("d", 4, 3, "park")], timestamp=T0, order_update_id=1,
                      start_sequence_id=2)
    await h.core.handle_order(upd.to_json())
    await h.core.handle_order(upd.to_json())  # a duplicate is ignored
    await h.until(lambda: h.state.last_node_id == "d")
    s = h.state
    assert s.order_update_id == 1 and s.new_base_request is None and not s.errors
    assert [g.node_id for g in h.driver.goals] == ["a", "b", "c", "d"]
    _validate_sent(h, validate_vda)
