"""Escort missions: the guide robot fetches a visitor, leads them to a place, and comes back.

A mission, step by step: the robot drives from its home (the kiosk) to the visitor, `speak`s
a greeting, leads at walking pace to the destination, says goodbye and returns home. Requests
wait in a first-come queue while every guide robot is busy; each waiting visitor sees their
position and an estimated time of arrival. Visitors can cancel; operators see every mission.

Sending orders is not done here: an `EscortExecutor` (implemented by the service with VDA 5050
orders and `speak` instant actions) performs each step, so the queue logic is testable alone.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from maps import Route
from patrol.guide.knowledge import KnowledgeBase, Lang
from patrol.guide.routes import ParkRoutes, PlaceError
from robots.clock import Clock

log = logging.getLogger(__name__)

ROBOT_SPEED = 1.2  # m/s when driving alone
LEAD_SPEED = 0.9  # m/s when leading a visitor (an easy walking pace)
SPEAK_S = 6.0  # seconds allowed for a greeting or a goodbye


class EscortExecutor(Protocol):
    """Performs the steps of a mission on a real or simulated robot (the service: VDA 5050)."""

    async def move(self, robot_id: str, route: Route, *, speed: float) -> None:
        """Drive along `route` at no more than `speed` m/s; return on arrival.

        Raise (any exception; its message is shown to operators) when the robot cannot do it.
        When cancelled, stop the robot (cancel the order) before re-raising CancelledError.
        """
        ...

    async def lead(self, robot_id: str, route: Route, *, speed: float, destination: str, escort_id: str) -> None:
        """Lead a visitor along `route` at walking pace `speed` (VDA 5050: `leadTo` on the order's edges,
        `destination` the place's name as shown to the visitor). Failure and cancellation as for `move`.
        """
        ...

    async def speak(self, robot_id: str, text: str, lang: Lang) -> None:
        """Say `text` aloud (a `speak` action, language 'zh' or 'en'); return when it has been said."""
        ...

    async def last_waypoint(self, robot_id: str) -> str | None:
        """The waypoint id the robot last reached (after a cancelled move), if known."""
        ...


class EscortError(ValueError):
    """A request that cannot be queued (unknown place, not escortable, queue full); safe to show."""


class QueueFullError(EscortError):
    """Too many visitors are waiting already."""


class EscortState(enum.StrEnum):
    QUEUED = "queued"
    COMING = "coming"  # robot on its way to the visitor
    GREETING = "greeting"
    LEADING = "leading"
    ARRIVED = "arrived"  # saying goodbye at the destination
    RETURNING = "returning"  # visitor is done; robot drives home
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in {EscortState.DONE, EscortState.CANCELLED, EscortState.FAILED}


@dataclass(frozen=True, slots=True)
class EscortPlan:
    """Routes and words for one mission, fixed when the request is accepted."""

    poi: str
    origin: str
    lang: Lang
    to_visitor: Route
    to_destination: Route
    home: Route
    greeting: str
    goodbye: str

    def leg_seconds(self, robot_speed: float, lead_speed: float, speak_s: float) -> tuple[float, float, float]:
        """Estimated seconds to reach the visitor, to greet+lead+say goodbye, and to return home."""
        return (self.to_visitor.metres / robot_speed,
                2 * speak_s + self.to_destination.metres / lead_speed,
                self.home.metres / robot_speed)


@dataclass(frozen=True, slots=True)
class EscortView:
    """A mission as visitors and operators see it (no personal data: places and times only)."""

    id: str
    poi: str
    origin: str
    lang: Lang
    state: EscortState
    robot_id: str | None
    position: int  # 1 = next in line; 0 = being served or finished
    eta_s: float | None  # seconds until the robot reaches the visitor (None once it has)
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    metres: float  # visitor's walk to the destination


@dataclass
class _Mission:
    id: str
    plan: EscortPlan
    created_at: float
    state: EscortState = EscortState.QUEUED
    robot_id: str | None = None
    started_at: float | None = None
    phase_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False


class EscortQueue:
    """First-come queue of escort missions served by one or more guide robots."""

    def __init__(self, kb: KnowledgeBase, routes: ParkRoutes, executor: EscortExecutor, clock: Clock,
                 robots: tuple[str, ...], *, robot_speed: float = ROBOT_SPEED, lead_speed: float = LEAD_SPEED,
                 speak_s: float = SPEAK_S, max_waiting: int = 20, keep_finished: int = 200) -> None:
        if not robots:
            raise ValueError("an escort queue needs at least one guide robot id")
        self.kb = kb
        self.routes = routes
        self.executor = executor
        self.clock = clock
        self.robots = tuple(robots)
        self.home = kb.park.home_poi
        self.robot_speed = robot_speed
        self.lead_speed = lead_speed
        self.speak_s = speak_s
        self.max_waiting = max_waiting
        self.keep_finished = keep_finished
        self._missions: OrderedDict[str, _Mission] = OrderedDict()
        self._waiting: deque[_Mission] = deque()
        self._active: dict[str, _Mission] = {}
        self._wake = asyncio.Event()
        self.completed = 0
        self.cancelled = 0
        self.failed = 0

    # -- requests ---------------------------------------------------------------------------

    def plan(self, poi: str, origin: str | None, lang: Lang) -> EscortPlan:
        """Routes and words for a mission to `poi` from the visitor at `origin` (default: the kiosk)."""
        info = self.kb.pois.get(poi)
        if info is None or poi not in self.routes.park.pois:
            raise EscortError(f"poi: unknown place {poi!r}; use a POI id such as 'canteen'")
        if not info.escort:
            raise EscortError(f"poi: the guide robot does not lead visitors to {info.name.en!r}")
        start = origin or self.home
        if start == poi:
            raise EscortError("from: you are already there")
        try:
            to_visitor = self.routes.robot_route(self.home, start, speed=self.robot_speed)
            to_destination = self.routes.robot_route(start, poi, speed=self.lead_speed)
            home = self.routes.robot_route(poi, self.home, speed=self.robot_speed)
        except PlaceError as e:
            raise EscortError(f"from: {e}") from None
        name = info.name.get(lang)
        if lang == "zh":
            greeting = f"您好！我是园区导览机器人，请跟我走，我带您去{name}。"
            goodbye = f"{name}到了。祝您一切顺利，再见！"
        else:
            greeting = f"Hello! I am the park's guide robot. Please follow me, I will take you to the {name}."
            goodbye = f"Here is the {name}. Have a good day, goodbye!"
        return EscortPlan(poi, start, lang, to_visitor, to_destination, home, greeting, goodbye)

    def submit(self, poi: str, origin: str | None, lang: Lang) -> EscortView:
        """Queue a mission; EscortError when it cannot be served."""
        if len(self._waiting) >= self.max_waiting:
            raise QueueFullError("the escort queue is full; please try again in a few minutes or call the hotline")
        mission = _Mission(secrets.token_urlsafe(12), self.plan(poi, origin, lang), self.clock.now())
        self._missions[mission.id] = mission
        self._waiting.append(mission)
        self._forget_old()
        self._wake.set()
        log.info("escort %s queued to %s (position %d)", mission.id, poi, len(self._waiting))
        return self.view(mission.id)

    def cancel(self, escort_id: str) -> EscortView:
        """Cancel a mission (KeyError when unknown). A robot on the way stops and goes home."""
        mission = self._missions[escort_id]
        if mission.state.finished or mission.state is EscortState.RETURNING:
            return self.view(escort_id)
        mission.cancel_requested = True
        if mission in self._waiting:
            self._waiting.remove(mission)
            self._finish(mission, EscortState.CANCELLED)
        elif mission.task is not None:
            mission.task.cancel()
        return self.view(escort_id)

    # -- views --------------------------------------------------------------------------------

    def view(self, escort_id: str) -> EscortView:
        """The mission's current state (KeyError when unknown or long forgotten)."""
        m = self._missions[escort_id]
        position, eta = 0, None
        if m.state is EscortState.QUEUED and m in self._waiting:
            position = self._waiting.index(m) + 1
            eta = self._queued_eta(position)
        elif m.state is EscortState.QUEUED:  # a robot has just taken it
            eta = self._legs(m)[0]
        elif m.state is EscortState.COMING and m.phase_at is not None:
            eta = max(0.0, m.phase_at + self._legs(m)[0] - self.clock.now())
        return EscortView(m.id, m.plan.poi, m.plan.origin, m.plan.lang, m.state, m.robot_id, position,
                          None if eta is None else round(eta, 1), m.created_at, m.started_at, m.finished_at,
                          m.error, round(m.plan.to_destination.metres, 1))

    def views(self) -> list[EscortView]:
        """Every remembered mission, oldest first (for operators)."""
        return [self.view(mid) for mid in self._missions]

    def robot_states(self) -> dict[str, str | None]:
        """Robot id -> id of the mission it is serving (None when idle at home)."""
        return {robot: (m.id if (m := self._active.get(robot)) else None) for robot in self.robots}

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _legs(self, m: _Mission) -> tuple[float, float, float]:
        return m.plan.leg_seconds(self.robot_speed, self.lead_speed, self.speak_s)

    def _remaining(self, m: _Mission) -> float:
        """Estimated seconds until the robot serving `m` is home again."""
        now = self.clock.now()
        coming, leading, home = self._legs(m)
        since = now - (m.phase_at if m.phase_at is not None else now)
        if m.state is EscortState.COMING:
            return max(0.0, coming - since) + leading + home
        if m.state in {EscortState.GREETING, EscortState.LEADING, EscortState.ARRIVED}:
            elapsed = now - (m.started_at or now) - coming
            return max(0.0, leading - max(0.0, elapsed)) + home
        if m.state is EscortState.RETURNING:
            return max(0.0, home - since)
        return 0.0

    def _queued_eta(self, position: int) -> float:
        free = [0.0] * len(self.robots)
        for i, robot in enumerate(self.robots):
            active = self._active.get(robot)
            free[i] = self._remaining(active) if active is not None else 0.0
        heapq.heapify(free)
        waiting = list(self._waiting)
        for ahead in waiting[:position - 1]:
            start = heapq.heappop(free)
            heapq.heappush(free, start + sum(self._legs(ahead)))
        return free[0] + self._legs(waiting[position - 1])[0]

    def _forget_old(self) -> None:
        finished = [mid for mid, m in self._missions.items() if m.state.finished]
        for mid in finished[:max(0, len(finished) - self.keep_finished)]:
            del self._missions[mid]

    # -- serving ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the queue with every robot until cancelled (run it in the service's TaskGroup)."""
        async with asyncio.TaskGroup() as tg:
            for robot in self.robots:
                tg.create_task(self._serve(robot), name=f"escort-{robot}")

    async def _next(self) -> _Mission:
        while not self._waiting:
            self._wake.clear()
            await self._wake.wait()
        return self._waiting.popleft()

    async def _serve(self, robot: str) -> None:
        while True:
            mission = await self._next()
            if self._waiting:
                self._wake.set()  # let another idle robot look too
            self._active[robot] = mission
            mission.robot_id = robot
            mission.started_at = self.clock.now()
            task = asyncio.create_task(self._escort(robot, mission), name=f"escort-{mission.id}")
            mission.task = task
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    task.cancel()  # the service is stopping
                    raise
                # the visitor cancelled before the mission's first step ran
                if not mission.state.finished:
                    self._finish(mission, EscortState.CANCELLED)
            finally:
                self._active.pop(robot, None)
                mission.task = None

    def _phase(self, m: _Mission, state: EscortState) -> None:
        m.state = state
        m.phase_at = self.clock.now()
        log.info("escort %s: %s (robot %s)", m.id, state.value, m.robot_id)

    def _finish(self, m: _Mission, state: EscortState, error: str | None = None) -> None:
        m.state = state
        m.finished_at = self.clock.now()
        m.error = error
        if state is EscortState.DONE:
            self.completed += 1
        elif state is EscortState.CANCELLED:
            self.cancelled += 1
        else:
            self.failed += 1

    async def _escort(self, robot: str, m: _Mission) -> None:
        plan, ex = m.plan, self.executor
        leg = "to the visitor"
        try:
            self._phase(m, EscortState.COMING)
            if plan.to_visitor.metres > 0:
                await ex.move(robot, plan.to_visitor, speed=self.robot_speed)
            leg = "greeting"
            self._phase(m, EscortState.GREETING)
            await ex.speak(robot, plan.greeting, plan.lang)
            leg = "to the destination"
            self._phase(m, EscortState.LEADING)
            await ex.lead(robot, plan.to_destination, speed=self.lead_speed,
                          destination=self.kb.pois[plan.poi].name.get(plan.lang), escort_id=m.id)
            leg = "goodbye"
            self._phase(m, EscortState.ARRIVED)
            await ex.speak(robot, plan.goodbye, plan.lang)
        except asyncio.CancelledError:
            if not m.cancel_requested:
                raise  # the service is stopping
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the visitor cancelled: this task goes on to bring the robot home
            self._finish(m, EscortState.CANCELLED)
            await self._return_after_stop(robot, plan)
            return
        except Exception as e:  # any executor failure ends the mission, never the queue
            log.warning("escort %s failed %s on robot %s: %s", m.id, leg, robot, e)
            self._finish(m, EscortState.FAILED, f"failed {leg}: {e}")
            await self._return_after_stop(robot, plan)
            return
        self._phase(m, EscortState.RETURNING)
        try:
            if plan.home.metres > 0:
                await ex.move(robot, plan.home, speed=self.robot_speed)
        except Exception as e:
            log.warning("escort %s: robot %s could not return home: %s", m.id, robot, e)
        self._finish(m, EscortState.DONE)

    async def _return_after_stop(self, robot: str, plan: EscortPlan) -> None:
        """After a cancelled or failed step: drive home from wherever the robot stopped."""
        try:
            where = await self.executor.last_waypoint(robot)
            start = where if where is not None and where in self.routes.park.waypoints else plan.origin
            route = self.routes.robot_route(start, self.home, speed=self.robot_speed)
            if route.metres > 0:
                await self.executor.move(robot, route, speed=self.robot_speed)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("robot %s could not return home after a stopped escort: %s", robot, e)

