"""Operator commands to robots, as VDA 5050 instant actions and orders.

VDA 5050 has no remote emergency-stop action (a hardware e-stop is reported by the robot in
`safetyState.eStop`); the console's "stop now" sends `cancelOrder` then `startPause` in one
instantActions message, which every VDA 5050 robot must honour at once.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from maps import Charger, NoRouteError, Park, Router
from patrol.fleet.registry import RobotRegistry
from patrol.fleet.state import FleetState, RobotLive
from robots.clock import Clock
from robots.vda5050 import actions as act
from robots.vda5050.base import utc_now_from
from robots.vda5050.builders import Waypoint, build_instant_actions, build_order, make_action
from robots.vda5050.order import Action
from robots.vda5050.topics import HeaderIds, RobotId, RobotTopic, VdaTopic

log = logging.getLogger(__name__)

Publish = Callable[..., Awaitable[None]]


class Command(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # console e-stop: cancel the order and pause
    CANCEL = "cancel"
    DOCK = "dock"
    GOTO = "goto"
    SCAN = "scan"
    STATE_REQUEST = "state_request"


class CommandError(Exception):
    """A command that cannot be carried out; the message names why."""


@dataclass(frozen=True)
class CommandResult:
    robot_id: str
    command: Command
    order_id: str | None = None
    action_ids: tuple[str, ...] = ()


class RobotCommander:
    """Builds and publishes instant actions and orders, each robot in the version it reports."""

    def __init__(self, park: Park, fleet: FleetState, registry: RobotRegistry, publish: Publish, clock: Clock,
                 interface: str = "uagv") -> None:
        self.park = park
        self.router = Router(park)
        self.fleet = fleet
        self.registry = registry
        self._publish = publish
        self.clock = clock
        self.interface = interface
        self.header_ids = HeaderIds()

    def _robot(self, robot_id: str) -> tuple[RobotId, RobotLive]:
        live = self.fleet.robots.get(robot_id)
        if live is None:
            raise CommandError(f"unknown robot {robot_id!r}")
        return RobotId(live.manufacturer, live.serial_number), live

    async def instant(self, robot_id: str, actions: Sequence[Action]) -> tuple[str, ...]:
        rid, live = self._robot(robot_id)
        topic = RobotTopic(rid, VdaTopic.INSTANT_ACTIONS, interface=self.interface)
        msg = build_instant_actions(rid, actions, timestamp=utc_now_from(self.clock.now()),
                                    header_id=self.header_ids.next(topic), robot_version=live.version)
        await self._publish(str(topic), msg.to_json(), qos=topic.qos, retain=topic.retain)
        return tuple(a.action_id for a in actions)

    async def order(self, robot_id: str, waypoints: Sequence[Waypoint], *, order_id: str | None = None,
                    released: int | None = None, order_update_id: int = 0, start_sequence_id: int = 0,
                    max_speed: float | None = None, edge_actions: dict[int, Sequence[Action]] | None = None
                    ) -> str:
        rid, live = self._robot(robot_id)
        topic = RobotTopic(rid, VdaTopic.ORDER, interface=self.interface)
        oid = order_id or f"ord-{uuid.uuid4().hex[:12]}"
        msg = build_order(rid, oid, waypoints, timestamp=utc_now_from(self.clock.now()),
                          header_id=self.header_ids.next(topic), robot_version=live.version, released=released,
                          order_update_id=order_update_id, start_sequence_id=start_sequence_id,
                          max_speed=max_speed, edge_actions=edge_actions)
        await self._publish(str(topic), msg.to_json(), qos=topic.qos, retain=topic.retain)
        return oid

    def declares(self, live: RobotLive, action_type: str) -> bool:
        fs = live.factsheet or {}
        for a in (fs.get("protocolFeatures") or {}).get("agvActions") or []:
            if isinstance(a, dict) and a.get("actionType") == action_type:
                return True
        return False

    def route_waypoints(self, live: RobotLive, target_wp: str, final_actions: Sequence[Action] = ()) -> list[Waypoint]:
        if live.x is None or live.y is None:
            raise CommandError(f"robot {live.robot_id} has not reported a position yet")
        start = live.last_node_id if live.last_node_id in self.park.waypoints else \
            self.park.nearest_waypoint(live.x, live.y).id
        try:
            route = self.router.route(start, target_wp)
        except NoRouteError as e:
            raise CommandError(str(e)) from e
        map_id = live.map_id or self.park.name
        wps = [Waypoint(w, self.park.waypoints[w].x, self.park.waypoints[w].y, map_id) for w in route.waypoints]
        last = wps[-1]
        wps[-1] = Waypoint(last.node_id, last.x, last.y, last.map_id, actions=tuple(final_actions))
        return wps

    async def execute(self, robot_id: str, command: Command, params: dict[str, Any] | None = None) -> CommandResult:
        params = params or {}
        _, live = self._robot(robot_id)
        if command is Command.PAUSE:
            ids = await self.instant(robot_id, [make_action(act.START_PAUSE)])
        elif command is Command.RESUME:
            ids = await self.instant(robot_id, [make_action(act.STOP_PAUSE)])
        elif command is Command.CANCEL:
            ids = await self.instant(robot_id, [make_action(act.CANCEL_ORDER)])
        elif command is Command.STOP:
            ids = await self.instant(robot_id, [make_action(act.CANCEL_ORDER), make_action(act.START_PAUSE)])
        elif command is Command.STATE_REQUEST:
            ids = await self.instant(robot_id, [make_action(act.STATE_REQUEST)])
        elif command in (Command.GOTO, Command.SCAN, Command.DOCK):
            return await self._go(robot_id, live, command, params)
        else:  # pragma: no cover - enum is exhaustive
            raise CommandError(f"unsupported command {command}")
        return CommandResult(robot_id, command, None, ids)

    async def _go(self, robot_id: str, live: RobotLive, command: Command, params: dict[str, Any]) -> CommandResult:
        if command is Command.DOCK:
            charger = self._charger_for(robot_id)
            target = charger.waypoint
            final = [make_action(act.DOCK, {"chargerId": charger.id})] if self.declares(live, act.DOCK) else []
        else:
            target = self._target_waypoint(params)
            final = []
            if command is Command.SCAN:
                if not self.declares(live, act.SCAN_AREA):
                    raise CommandError(f"robot {robot_id} does not declare the action scanArea")
                final.append(make_action(act.SCAN_AREA, {"duration": float(params.get("duration", 10.0))}))
                if self.declares(live, act.CAPTURE_PHOTO):
                    final.append(make_action(act.CAPTURE_PHOTO))
        wps = self.route_waypoints(live, target, final)
        if live.paused:
            await self.instant(robot_id, [make_action(act.STOP_PAUSE)])
        oid = await self.order(robot_id, wps)
        return CommandResult(robot_id, command, oid, tuple(a.action_id for a in final))

    def _charger_for(self, robot_id: str) -> Charger:
        rec = self.registry.get(robot_id)
        chargers = list(self.park.chargers.values())
        if not chargers:
            raise CommandError("the park has no chargers")
        if rec is not None and rec.home_charger is not None and rec.home_charger in self.park.chargers:
            return self.park.chargers[rec.home_charger]
        live = self.fleet.robots[robot_id]
        if live.x is None or live.y is None:
            return chargers[0]
        lx, ly = live.x, live.y
        return min(chargers, key=lambda c: (c.x - lx) ** 2 + (c.y - ly) ** 2)

    def _target_waypoint(self, params: dict[str, Any]) -> str:
        if "waypoint" in params:
            wp = str(params["waypoint"])
            if wp not in self.park.waypoints:
                raise CommandError(f"waypoint {wp!r} is not on the map")
            return wp
        if "x" in params and "y" in params:
            x, y = float(params["x"]), float(params["y"])
        elif "lat" in params and "lon" in params:
            x, y = self.park.to_local(float(params["lat"]), float(params["lon"]))
        else:
            raise CommandError("give a target: waypoint, or x and y, or lat and lon")
        if not self.park.contains(x, y):
            raise CommandError(f"target ({x:.1f}, {y:.1f}) is outside the park")
        return self.park.nearest_waypoint(x, y).id
