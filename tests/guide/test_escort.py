"""Escort queue: mission steps, queue position and ETA, visitor cancel, failures, several robots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from patrol.guide.escort import LEAD_SPEED, EscortError, EscortQueue, EscortState, QueueFullError
from patrol.guide.knowledge import KnowledgeBase
from patrol.guide.routes import ParkRoutes
from robots.clock import SimClock
from tests.guide.conftest import FakeEscortExecutor, run_sim, settle


class Setup:
    def __init__(self, kb: KnowledgeBase, routes: ParkRoutes, robots: tuple[str, ...], **kw: int) -> None:
        self.clock = SimClock()
        self.executor = FakeEscortExecutor(self.clock)
        self.queue = EscortQueue(kb, routes, self.executor, self.clock, robots, **kw)

    async def settle(self) -> None:
        await settle()

    async def advance(self, seconds: float) -> None:
        await run_sim(self.clock, seconds)


@pytest.fixture
async def one_robot(kb: KnowledgeBase, routes: ParkRoutes) -> AsyncIterator[Setup]:
    setup = Setup(kb, routes, ("guide1",), max_waiting=3)
    task = asyncio.create_task(setup.queue.run())
    try:
        yield setup
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_mission_fetches_greets_leads_says_goodbye_and_returns(one_robot: Setup) -> None:
    q, ex = one_robot.queue, one_robot.executor
    view = q.submit("canteen", "gate_south", "en")
    assert view.state is EscortState.QUEUED and view.position == 1
    await one_robot.settle()
    assert q.view(view.id).state is EscortState.COMING and q.view(view.id).robot_id == "guide1"
    assert q.robot_states() == {"guide1": view.id}
    await one_robot.advance(3600)
    done = q.view(view.id)
    assert done.state is EscortState.DONE and done.finished_at is not None
    assert ex.kinds("guide1") == ["move", "speak", "lead", "move", "speak", "move"]
    assert ("guide1", "lead", f"Staff Canteen:{view.id}") in ex.steps
    moves = [detail for _, kind, detail in ex.steps if kind == "move"]
    plan = q.plan("canteen", "gate_south", "en")
    assert moves[0].startswith(f"{plan.to_visitor.waypoints[0]}->{plan.to_visitor.waypoints[-1]}")
    assert moves[1].endswith(f"@{LEAD_SPEED}"), "leads at walking pace"
    speeches = [detail for _, kind, detail in ex.steps if kind == "speak"]
    assert speeches[0].startswith("en:Hello") and "Staff Canteen" in speeches[0]
    assert speeches[1].startswith("en:Here is the Staff Canteen")
    assert q.robot_states() == {"guide1": None} and q.completed == 1


async def test_waiting_visitors_see_their_position_and_eta(one_robot: Setup) -> None:
    q = one_robot.queue
    first = q.submit("canteen", "gate_south", "zh")
    await one_robot.settle()
    second = q.submit("clinic", None, "zh")
    third = q.submit("office_b2", None, "zh")
    legs1 = q.plan("canteen", "gate_south", "zh").leg_seconds(q.robot_speed, q.lead_speed, q.speak_s)
    legs2 = q.plan("clinic", None, "zh").leg_seconds(q.robot_speed, q.lead_speed, q.speak_s)
    assert q.view(second.id).position == 1 and q.view(third.id).position == 2
    assert q.view(second.id).eta_s == pytest.approx(sum(legs1) + legs2[0], abs=0.2)
    assert q.view(third.id).eta_s == pytest.approx(sum(legs1) + sum(legs2), abs=0.2)
    coming = q.view(first.id)
    assert coming.position == 0 and coming.eta_s == pytest.approx(legs1[0], abs=0.2)
    await one_robot.advance(60)
    assert q.view(second.id).eta_s == pytest.approx(sum(legs1) + legs2[0] - 60, abs=0.5)
    # cancelling the first in line moves the others up
    cancelled = q.cancel(second.id)
    assert cancelled.state is EscortState.CANCELLED and cancelled.position == 0
    assert q.view(third.id).position == 1


async def test_visitor_cancels_while_being_led_and_the_robot_goes_home(one_robot: Setup) -> None:
    q, ex = one_robot.queue, one_robot.executor
    first = q.submit("talent_apartments", None, "en")
    waiting = q.submit("canteen", None, "en")
    await one_robot.advance(10)  # from the kiosk: greeting done, now leading
    assert q.view(first.id).state is EscortState.LEADING
    q.cancel(first.id)
    await one_robot.settle()
    assert q.view(first.id).state is EscortState.CANCELLED
    assert ("guide1", "stopped", ex.reached["guide1"]) in ex.steps
    home_move = [d for r, k, d in ex.steps if k == "move"][-1]
    assert home_move.startswith(f"{ex.reached['guide1']}->")
    await one_robot.advance(3600)
    assert q.view(waiting.id).state is EscortState.DONE, "the queue goes on after a cancel"
    assert q.cancelled == 1 and q.completed == 1
    assert q.cancel(first.id).state is EscortState.CANCELLED, "cancelling twice is harmless"


async def test_cancel_between_dispatch_and_first_step(one_robot: Setup) -> None:
    q, ex = one_robot.queue, one_robot.executor
    first = q.submit("canteen", None, "en")
    for _ in range(10):  # the robot has taken the request but its mission has not begun
        await asyncio.sleep(0)
        if q.waiting == 0:
            break
    assert q.view(first.id).state is EscortState.QUEUED and q.waiting == 0
    assert q.cancel(first.id).state is not EscortState.DONE
    await one_robot.settle()
    assert q.view(first.id).state is EscortState.CANCELLED and ex.steps == []
    second = q.submit("clinic", None, "en")
    await one_robot.advance(3600)
    assert q.view(second.id).state is EscortState.DONE, "the robot keeps serving"


async def test_a_failed_step_fails_that_mission_only(one_robot: Setup) -> None:
    q, ex = one_robot.queue, one_robot.executor
    ex.fail_on = 1
    first = q.submit("canteen", "gate_south", "zh")
    second = q.submit("clinic", None, "zh")
    await one_robot.advance(3600)
    failed = q.view(first.id)
    assert failed.state is EscortState.FAILED and failed.error is not None
    assert "to the visitor" in failed.error and "path blocked" in failed.error
    assert q.view(second.id).state is EscortState.DONE
    assert q.failed == 1


async def test_bad_requests_are_refused_with_the_field(one_robot: Setup) -> None:
    q = one_robot.queue
    with pytest.raises(EscortError, match=r"^poi: unknown place 'moon'"):
        q.submit("moon", None, "en")
    with pytest.raises(EscortError, match=r"^poi: the guide robot does not lead visitors to 'Computing Centre'"):
        q.submit("computing_centre", None, "en")
    with pytest.raises(EscortError, match=r"^from: you are already there"):
        q.submit("canteen", "canteen", "en")
    with pytest.raises(EscortError, match=r"^from: unknown place"):
        q.submit("canteen", "nowhere", "en")
    for _ in range(4):  # one served at once, three waiting
        q.submit("canteen", None, "en")
        await one_robot.settle()
    with pytest.raises(QueueFullError):
        q.submit("canteen", None, "en")
    with pytest.raises(KeyError):
        q.view("no-such-id")


async def test_two_robots_serve_two_visitors_at_once(kb: KnowledgeBase, routes: ParkRoutes) -> None:
    setup = Setup(kb, routes, ("guide1", "guide2"))
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(setup.queue.run())
        a = setup.queue.submit("canteen", None, "en")
        b = setup.queue.submit("clinic", None, "en")
        c = setup.queue.submit("office_a1", None, "en")
        await setup.settle()
        robots = {setup.queue.view(a.id).robot_id, setup.queue.view(b.id).robot_id}
        assert robots == {"guide1", "guide2"}
        assert setup.queue.view(c.id).position == 1
        await setup.advance(7200)
        assert all(setup.queue.view(x.id).state is EscortState.DONE for x in (a, b, c))
        task.cancel()
