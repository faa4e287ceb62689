"""Missions that wait for the robot: drive a route and arrive, run an action to its end.

Built on the commander (orders, instant actions) and the fleet state (what the robot reports):
each call sends the VDA 5050 message, then waits until the robot's state shows the outcome.
Cancelling a drive cancels the robot's order before the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from maps import Route
from patrol.fleet.commands import RobotCommander
from patrol.fleet.state import FleetState, RobotChange, RobotLive
from robots.vda5050 import actions as act
from robots.vda5050.builders import Waypoint, make_action
from robots.vda5050.order import Action


class MissionError(Exception):
    """The robot did not complete the mission; the message says why."""


@dataclass
class _Waiter:
    robot_id: str
    predicate: Callable[[RobotLive], bool]
    future: asyncio.Future[RobotLive]


@dataclass
class RobotMissions:
    commander: RobotCommander
    fleet: FleetState
    _waiters: list[_Waiter] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fleet.listen(self._on_change)

    def _on_change(self, change: RobotChange) -> None:
        for w in list(self._waiters):
            if w.robot_id == change.after.robot_id and not w.future.done():
                try:
                    if w.predicate(change.after):
                        w.future.set_result(change.after)
                except Exception as e:  # a predicate that raises fails its waiter
                    w.future.set_exception(e)

    async def wait_for(self, robot_id: str, predicate: Callable[[RobotLive], bool], within_s: float) -> RobotLive:
        current = self.fleet.robots.get(robot_id)
        if current is not None and predicate(current):
            return current
        w = _Waiter(robot_id, predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(w)
        try:
            async with asyncio.timeout(within_s):
                return await w.future
        except TimeoutError as e:
            raise MissionError(f"robot {robot_id}: no result within {within_s:.0f} s") from e
        finally:
            self._waiters.remove(w)

    def waypoints(self, robot_id: str, route: Route) -> list[Waypoint]:
        park = self.commander.park
        live = self.fleet.robots[robot_id]
        map_id = live.map_id or park.id
        return [Waypoint(w, park.waypoints[w].x, park.waypoints[w].y, map_id) for w in route.waypoints]

    async def drive(self, robot_id: str, route: Route, *, speed: float | None = None,
                    edge_actions: dict[int, Sequence[Action]] | None = None,
                    node_actions: Sequence[Action] = ()) -> RobotLive:
        """Send the route as one order and return when the robot has reached its end."""
        wps = self.waypoints(robot_id, route)
        if node_actions:
            last = wps[-1]
            wps[-1] = Waypoint(last.node_id, last.x, last.y, last.map_id, actions=tuple(node_actions))
        final = wps[-1].node_id
        oid = await self.commander.order(robot_id, wps, max_speed=speed, edge_actions=edge_actions)
        budget = 60.0 + 3.0 * route.metres / max(0.3, speed or 1.0)

        def arrived(r: RobotLive) -> bool:
            if not r.online:
                raise MissionError(f"robot {robot_id} went offline during the mission")
            if r.e_stop != "NONE":
                raise MissionError(f"robot {robot_id}: emergency stop ({r.e_stop})")
            if r.order_id != oid:
                return False
            failed = [t for _, t, s in r.action_states if s == "FAILED"]
            if failed:
                raise MissionError(f"robot {robot_id}: action {failed[0]} failed")
            running = any(s not in ("FINISHED", "FAILED") for _, _, s in r.action_states)
            return r.last_node_id == final and not r.node_ids_ahead and not running

        try:
            return await self.wait_for(robot_id, arrived, budget)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.commander.instant(robot_id, [make_action(act.CANCEL_ORDER)])
            raise

    async def instant_action(self, robot_id: str, action: Action, within_s: float = 60.0) -> str:
        """Run one instant action and return its result description when FINISHED."""
        await self.commander.instant(robot_id, [action])

        def done(r: RobotLive) -> bool:
            for aid, _, status in r.action_states:
                if aid == action.action_id and status in ("FINISHED", "FAILED"):
                    if status == "FAILED":
                        raise MissionError(f"robot {robot_id}: {action.action_type} failed")
                    return True
            return False

        await self.wait_for(robot_id, done, within_s)
        return ""
