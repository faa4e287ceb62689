"""SimDriver kinematics, battery, actions and faults on a simulated clock."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from robots.agent.driver import ActionRequest, DriveError, Driver, NodeGoal, Pose
from robots.clock import SimClock
from simulator.events import EventLog
from simulator.kinematics import BodyState, MotionProfile, step_towards, travel_time
from simulator.robot import GUIDE_ROBOT, PATROL_DOG, SimDriver

T = TypeVar("T")


async def run_on(clock: SimClock, coro: Coroutine[Any, Any, T], limit: float = 3600.0, dt: float = 1.0) -> T:
    """Run `coro` while advancing the simulated clock; fail if it needs more than `limit` seconds."""
    task = asyncio.create_task(coro)
    start = clock.now()
    while not task.done():
        if clock.now() - start > limit:
            task.cancel()
            raise AssertionError(f"still running after {limit} simulated seconds")
        await asyncio.sleep(0)  # let the task run up to its next clock sleep
        await clock.advance(dt)
    return task.result()


def dog(clock: SimClock, **kwargs: Any) -> SimDriver:
    return SimDriver("dog-01", PATROL_DOG, clock, Pose(0.0, 0.0, 0.0, "park"), events=EventLog(clock), **kwargs)


def test_step_towards_accelerates_cruises_and_stops_on_target() -> None:
    profile = MotionProfile(max_speed=1.5, accel=1.0, decel=1.5, turn_rate=2.0)
    s = BodyState(0.0, 0.0, 0.0)
    t, top = 0.0, 0.0
    while (s.x, s.y) != (30.0, 0.0):
        s, _ = step_towards(s, 30.0, 0.0, profile, 0.05)
        top = max(top, s.speed)
        t += 0.05
        assert t < 60
    assert top == pytest.approx(1.5)
    assert s.speed == 0.0
    assert t == pytest.approx(travel_time(30.0, profile), abs=0.3)


def test_step_towards_turns_on_the_spot_before_driving_backwards() -> None:
    profile = MotionProfile(max_speed=1.5, accel=1.0, decel=1.5, turn_rate=1.0)
    s = BodyState(0.0, 0.0, 0.0)
    s, travelled = step_towards(s, -10.0, 0.0, profile, 0.5)
    assert travelled == 0.0 and s.omega != 0.0


async def test_sim_driver_is_a_driver_and_drives_at_its_speed_on_the_clock() -> None:
    clock = SimClock()
    d = dog(clock)
    assert isinstance(d, Driver)
    await run_on(clock, d.drive_to(NodeGoal("n1", 150.0, 0.0, "park")), dt=0.5)
    pose = d.pose()
    assert math.hypot(pose.x - 150.0, pose.y) <= 0.5
    # 150 m at 1.5 m/s plus speeding up and braking
    expected = travel_time(150.0, PATROL_DOG.motion)
    assert expected - 1.0 <= clock.now() <= expected + 2.0
    assert d.odometer_m == pytest.approx(150.0, abs=0.6)


async def test_edge_speed_limit_and_guide_walking_pace() -> None:
    clock = SimClock()
    g = SimDriver("guide-01", GUIDE_ROBOT, clock, Pose(0.0, 0.0, 0.0, "park"))
    await run_on(clock, g.drive_to(NodeGoal("n1", 60.0, 0.0, "park", max_speed=0.5)), dt=0.5)
    assert clock.now() >= 120.0  # 60 m at <= 0.5 m/s
    t0 = clock.now()
    out = await run_on(clock, g.run_action(ActionRequest("a1", "leadTo", {"x": 60.0, "y": 30.0})))
    assert out.ok, out.result_description
    assert clock.now() - t0 >= 30.0 / GUIDE_ROBOT.walking_pace


async def test_edge_geometry_is_followed() -> None:
    clock = SimClock()
    corners = [(0.0, 0.0), (0.0, 20.0), (20.0, 20.0)]
    d = dog(clock, edge_geometry=lambda edge: corners if edge == "e1" else None)
    await run_on(clock, d.drive_to(NodeGoal("n2", 20.0, 20.0, "park", edge_id="e1")), dt=0.5)
    assert d.odometer_m == pytest.approx(40.0, abs=1.0)  # around the corner, not the 28 m diagonal


async def test_battery_drains_per_metre_and_idle_and_charges_at_dock() -> None:
    clock = SimClock()
    d = dog(clock, chargers=[(0.0, 0.0)], initial_charge=50.0)
    await clock.advance(1000.0)
    idle = 50.0 - d.battery().charge
    assert idle == pytest.approx(1000.0 * PATROL_DOG.battery.drain_idle_per_s, rel=0.01)
    await run_on(clock, d.drive_to(NodeGoal("far", 500.0, 0.0, "park")))
    before_back = d.battery().charge
    await run_on(clock, d.drive_to(NodeGoal("home", 0.0, 0.0, "park")))
    used = before_back - d.battery().charge
    assert used >= 500.0 * PATROL_DOG.battery.drain_per_m
    out = await run_on(clock, d.run_action(ActionRequest("dock-1", "dock", {})))
    assert out.ok and d.battery().charging
    low = d.battery().charge
    await clock.advance(100.0)
    assert d.battery().charge == pytest.approx(low + 100.0 * PATROL_DOG.battery.charge_per_s, abs=0.2)
    # driving away undocks
    await run_on(clock, d.drive_to(NodeGoal("n", 5.0, 0.0, "park")))
    assert not d.battery().charging


async def test_dock_away_from_a_charger_fails_with_a_reason() -> None:
    clock = SimClock()
    d = dog(clock, chargers=[(100.0, 0.0)])
    out = await run_on(clock, d.run_action(ActionRequest("dock-1", "dock", {})))
    assert not out.ok and "no charger" in out.result_description


async def test_estop_stops_a_drive_with_drive_error() -> None:
    clock = SimClock()
    d = dog(clock)
    task = asyncio.create_task(d.drive_to(NodeGoal("n", 100.0, 0.0, "park")))
    await asyncio.sleep(0)
    await clock.advance(10.0)
    d.press_estop()
    assert d.estop()
    await clock.advance(1.0)
    with pytest.raises(DriveError, match="emergency stop"):
        await task
    x = d.pose().x
    assert 5.0 < x < 20.0
    d.release_estop()
    await run_on(clock, d.drive_to(NodeGoal("n", 100.0, 0.0, "park")))


async def test_stuck_robot_makes_no_progress_reports_a_fault_and_gives_up() -> None:
    clock = SimClock()
    d = dog(clock, stuck_timeout_s=30.0)
    d.set_stuck(True)
    task = asyncio.create_task(d.drive_to(NodeGoal("n", 100.0, 0.0, "park")))
    await asyncio.sleep(0)
    await clock.advance(10.0)
    assert d.pose().x == 0.0
    assert [f.error_type for f in d.faults()] == ["robotStuck"]
    await clock.advance(25.0)
    with pytest.raises(DriveError, match="stuck"):
        await task


async def test_localisation_jump_and_low_battery_faults() -> None:
    clock = SimClock()
    d = dog(clock)
    d.jump(20.0, 0.0, relocalise_after_s=10.0)
    pose = d.pose()
    assert pose.x == 20.0 and not pose.localized and pose.deviation == 20.0
    with pytest.raises(DriveError, match="localisation"):
        await d.drive_to(NodeGoal("n", 0.0, 0.0, "park"))
    await clock.advance(11.0)
    assert d.pose().localized and not d.faults()
    d.set_charge(8.0)
    assert [f.error_type for f in d.faults()] == ["batteryLow"]
    d.set_charge(0.0)
    assert d.faults()[0].level == "FATAL"
    assert d.events is not None and [e.kind for e in d.events.of_kind("robot.battery_low")]


async def test_actions_speak_scan_photo_init_and_unsupported() -> None:
    clock = SimClock()
    log = EventLog(clock)
    async def photo(drv: SimDriver) -> bytes:
        return b"\xff\xd8jpeg"

    g = SimDriver("guide-01", GUIDE_ROBOT, clock, Pose(0.0, 0.0, 0.0, "park"), events=log, photo_renderer=photo)
    out = await run_on(clock, g.run_action(ActionRequest("s1", "speak", {"text": "欢迎来到园区", "language": "zh-CN"})))
    assert out.ok
    spoken = log.of_kind("robot.speak")[0]
    assert spoken.data == {"text": "欢迎来到园区", "language": "zh-CN"}
    out = await run_on(clock, g.run_action(ActionRequest("s2", "scanArea", {"sweepDeg": 180.0, "duration": 4})))
    assert out.ok and abs(abs(g.pose().theta) - math.pi) < 0.05
    out = await run_on(clock, g.run_action(ActionRequest("p1", "capturePhoto", {})))
    assert out.ok and g.photos["p1"] == b"\xff\xd8jpeg"
    out = await g.run_action(ActionRequest("i1", "initPosition", {"x": 3.0, "y": 4.0, "theta": 0.5, "mapId": "park"}))
    assert out.ok and (g.pose().x, g.pose().y) == (3.0, 4.0)
    d = dog(clock)
    out = await d.run_action(ActionRequest("x", "speak", {"text": "hi"}))
    assert not out.ok and "does not support" in out.result_description
    out = await g.run_action(ActionRequest("y", "speak", {}))
    assert not out.ok and "bad parameters" in out.result_description


async def test_follow_person_keeps_distance_at_walking_pace() -> None:
    clock = SimClock()
    person = {"x": 10.0}

    def locate(pid: str, near: tuple[float, float]) -> tuple[float, float] | None:
        return (person["x"], 0.0) if pid == "p1" else None

    d = dog(clock, person_locator=locate)
    task = asyncio.create_task(d.run_action(ActionRequest("f", "followPerson",
                                                          {"personId": "p1", "duration": 30, "distance": 2})))
    await asyncio.sleep(0)
    for _ in range(30):
        person["x"] += 1.0
        await clock.advance(1.0)
    while not task.done():
        await clock.advance(0.5)
    out = task.result()
    assert out.ok
    assert 36.0 <= d.pose().x <= 39.0  # 2 m behind a person at x = 40
    lost = await d.run_action(ActionRequest("g", "followPerson", {"personId": "nobody"}))
    assert not lost.ok
