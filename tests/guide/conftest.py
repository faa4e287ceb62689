"""Fixtures for the guide: the sample park and its knowledge base, loaded once per session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from maps import Park, Route, load_park, sample_park_path
from patrol.guide.engine import GuideEngine
from patrol.guide.knowledge import KnowledgeBase, Lang, load_knowledge, sample_knowledge_path
from patrol.guide.routes import ParkRoutes
from robots.clock import Clock, SimClock


@pytest.fixture(scope="session")
def park() -> Park:
    return load_park(sample_park_path())


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge(sample_knowledge_path())


@pytest.fixture(scope="session")
def routes(park: Park) -> ParkRoutes:
    return ParkRoutes(park)


@pytest.fixture(scope="session")
def engine(kb: KnowledgeBase, routes: ParkRoutes) -> GuideEngine:
    return GuideEngine(kb, routes)


@dataclass
class FakeEscortExecutor:
    """Test-only executor: 'drives' a route by sleeping metres/speed on the given clock and records steps.

    `fail_on` makes the n-th move (1-based) raise, as a robot that got stuck would.
    """

    clock: Clock
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (robot, kind, detail)
    fail_on: int | None = None
    moves: int = 0
    reached: dict[str, str] = field(default_factory=dict)
    speaking: asyncio.Event = field(default_factory=asyncio.Event)

    async def move(self, robot_id: str, route: Route, *, speed: float) -> None:
        self.moves += 1
        self.steps.append((robot_id, "move", f"{route.waypoints[0]}->{route.waypoints[-1]}@{speed}"))
        if self.fail_on == self.moves:
            raise RuntimeError("robot stuck: path blocked")
        try:
            await self.clock.sleep(route.metres / speed)
        except asyncio.CancelledError:
            self.reached[robot_id] = route.waypoints[len(route.waypoints) // 2]  # stopped halfway
            self.steps.append((robot_id, "stopped", self.reached[robot_id]))
            raise
        self.reached[robot_id] = route.waypoints[-1]

    async def lead(self, robot_id: str, route: Route, *, speed: float, destination: str, escort_id: str) -> None:
        self.steps.append((robot_id, "lead", f"{destination}:{escort_id}"))
        await self.move(robot_id, route, speed=speed)

    async def speak(self, robot_id: str, text: str, lang: Lang) -> None:
        self.steps.append((robot_id, "speak", f"{lang}:{text}"))
        self.speaking.set()
        await self.clock.sleep(3.0)

    async def last_waypoint(self, robot_id: str) -> str | None:
        return self.reached.get(robot_id)

    def kinds(self, robot_id: str) -> list[str]:
        return [kind for robot, kind, _ in self.steps if robot == robot_id]


async def settle() -> None:
    """Let every ready task run until it waits again."""
    for _ in range(20):
        await asyncio.sleep(0)


async def run_sim(clock: SimClock, seconds: float) -> None:
    """Move simulated time on, letting every task run to its next sleep between wake-ups."""
    end = clock.now() + seconds
    await settle()
    while (deadline := clock.next_deadline) is not None and deadline <= end:
        await clock.run_until(deadline)
        await settle()
    await clock.run_until(end)
    await settle()
