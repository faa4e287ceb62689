"""Optional subsystems wired into the service's lifespan: alarms and sensors, history, guide,
vision, patrol dispatch. Each is a `Subsystem` whose setup connects it to the runtime (bus
subscriptions, fleet listeners, live hub) and returns its long-running loops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import orjson

from maps import Route, sample_park_path
from patrol import topics
from patrol.fleet.missions import MissionError, RobotMissions
from patrol.fleet.state import RobotChange
from robots.vda5050.order import Action

if TYPE_CHECKING:
    from patrol.app import Loop, Subsystem
    from patrol.runtime import Runtime

log = logging.getLogger(__name__)


class DispatchBridge:
    """The alarms' `DispatchHook`, answered by the patrol subsystem once it is up."""

    def __init__(self) -> None:
        self.target: Any = None

    async def request_dispatch(self, incident_id: int, x: float, y: float, zone: str | None,
                               severity: str) -> str | None:
        if self.target is None:
            log.warning("incident %d: no patrol dispatcher running; no robot sent", incident_id)
            return None
        robot: str | None = await self.target.request_dispatch(incident_id, x, y, zone, severity)
        return robot

    async def recall(self, incident_id: int) -> str | None:
        if self.target is None:
            return None
        robot: str | None = await self.target.recall(incident_id)
        return robot


def _robot_conditions(change: RobotChange, low_battery: float) -> list[tuple[str, bool, str]]:
    """(condition, active, detail) transitions between two robot states."""
    before, after = change.before, change.after
    out: list[tuple[str, bool, str]] = []
    was_online = before.online if before is not None else after.online
    if was_online != after.online:
        out.append(("offline", not after.online, after.connection))
    was_estop = (before.e_stop if before is not None else "NONE") != "NONE"
    if was_estop != (after.e_stop != "NONE"):
        out.append(("estop", after.e_stop != "NONE", f"eStop {after.e_stop}"))
    fatal_before = any(lv == "FATAL" for _, lv, _ in (before.errors if before else ()))
    fatal_after = [f"{t}: {d}" for t, lv, d in after.errors if lv == "FATAL"]
    if fatal_before != bool(fatal_after):
        out.append(("fault", bool(fatal_after), "; ".join(fatal_after) or "cleared"))
    if after.battery is not None:
        low_before = before is not None and before.battery is not None and before.battery < low_battery \
            and not before.charging
        low_after = after.battery < low_battery and not after.charging
        if low_before != low_after:
            out.append(("low_battery", low_after, f"battery {after.battery:.0f}%"))
    return out


SENSOR_FIELDS = ("contact", "occupancy", "smoke", "water_leak", "vibration", "tamper", "battery", "linkquality",
                 "temperature", "humidity")


class LiveSensorFeed:
    """Sensor states and vision detections for the console's live map (coalesced by the hub's tick).

    Only sensors on the map are shown; the alarms ingest (not this) decides what is an alarm.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.views: dict[str, dict[str, Any]] = {}
        for sid, sensor in rt.park.sensors.items():
            lat, lon = rt.park.to_wgs84(sensor.x, sensor.y)
            self.views[sid] = {"id": sid, "kind": sensor.kind, "zone": sensor.zone, "x": sensor.x, "y": sensor.y,
                               "lat": lat, "lon": lon}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self.views

    def on_sensor(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        view = self.views.get(parts[1]) if len(parts) in (2, 3) else None
        if view is None:
            return
        if len(parts) == 3:
            if parts[2] != "availability":
                return
            text = payload.decode("utf-8", "replace").strip()
            if text.startswith("{"):
                try:
                    text = str(orjson.loads(text).get("state", ""))
                except (orjson.JSONDecodeError, AttributeError):
                    return
            view["available"] = text == "online"
        else:
            try:
                data = orjson.loads(payload)
            except orjson.JSONDecodeError:
                return
            if not isinstance(data, dict):
                return
            for key in SENSOR_FIELDS:
                value = data.get(key)
                if (isinstance(value, bool | int | float) and not isinstance(value, bool)) or isinstance(value, bool):
                    view[key] = value
            view["available"] = True
            view["last_seen"] = self.rt.clock.now()
        self.rt.live.mark("sensors", parts[1], dict(view))

    def on_vision(self, topic: str, payload: bytes) -> None:
        try:
            ev = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(ev, dict) or ev.get("type") != "new" or not isinstance(ev.get("after"), dict):
            return
        after = ev["after"]
        pos = after.get("position") if isinstance(after.get("position"), dict) else after
        x, y = pos.get("x"), pos.get("y")
        if not isinstance(x, int | float) or not isinstance(y, int | float) or not self.rt.park.contains(x, y):
            return
        lat, lon = self.rt.park.to_wgs84(float(x), float(y))
        self.rt.live.event({"type": "detection", "label": str(after.get("label", ""))[:64],
                            "camera": str(after.get("camera", ""))[:64], "lat": lat, "lon": lon})


def alarms_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        from patrol.alarms.live import LiveEvent
        from patrol.alarms.photos import IncidentPhotos
        from patrol.alarms.service import AlarmService
        from patrol.audit import AuditLog
        from patrol.sensors.service import SUBSCRIPTIONS, SensorService

        audit = AuditLog(rt.store.sessions, rt.clock, rt.store.writes)
        bridge = DispatchBridge()
        alarms = AlarmService(rt.store.sessions, rt.clock, rt.park, rt.bus, bridge, audit, writes=rt.store.writes)
        sensors = SensorService(rt.store.sessions, rt.clock, alarms, audit, rt.settings.sensors,
                                writes=rt.store.writes)
        await sensors.load()
        for pattern in SUBSCRIPTIONS:
            rt.bus.subscribe(pattern, sensors.handle_message, 1)

        def on_live(ev: LiveEvent) -> None:
            if ev.kind in ("alarm", "incident"):
                rt.live.mark(f"{ev.kind}s", str(ev.data.get("id")), ev.data)
            else:
                rt.live.event({"kind": ev.kind, **ev.data})

        alarms.subscribe(on_live)
        conditions: asyncio.Queue[tuple[str, str, bool, str, float | None, float | None]] = asyncio.Queue(10_000)
        low = rt.settings.fleet.low_battery_pct

        def on_robot(change: RobotChange) -> None:
            for kind, active, detail in _robot_conditions(change, low):
                try:
                    conditions.put_nowait((change.after.robot_id, kind, active, detail, change.after.x,
                                           change.after.y))
                except asyncio.QueueFull:
                    log.error("robot condition queue full; dropped %s %s for %s", kind, active,
                              change.after.robot_id)

        rt.fleet.listen(on_robot)

        async def condition_loop() -> None:
            while True:
                robot, kind, active, detail, x, y = await conditions.get()
                try:
                    await rt.store.writes.submit(
                        f"robot {robot} {kind} {'began' if active else 'ended'}",
                        functools.partial(alarms.robot_condition, robot, kind, active, detail, x, y))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("robot condition %s for %s failed", kind, robot)

        feed = LiveSensorFeed(rt)
        rt.bus.subscribe(topics.ZIGBEE_FILTER, feed.on_sensor, 0)
        rt.bus.subscribe(topics.VISION_EVENTS, feed.on_vision, 0)
        rt.extras["snapshot_parts"]["sensors"] = feed.snapshot
        rt.extras.update(alarms=alarms, sensors=sensors, audit=audit, dispatch_bridge=bridge,
                         incident_photos=IncidentPhotos(rt.settings.data_dir / "incident-photos"))
        return [alarms.run, sensors.run, condition_loop]

    return Subsystem("alarms", setup)


class VdaEscortExecutor:
    """The guide's escort steps as VDA 5050 orders and actions on the guide robot."""

    def __init__(self, missions: RobotMissions) -> None:
        self.missions = missions

    async def move(self, robot_id: str, route: Route, *, speed: float) -> None:
        if len(route.waypoints) > 1:
            await self.missions.drive(robot_id, route, speed=speed)

    async def lead(self, robot_id: str, route: Route, *, speed: float, destination: str, escort_id: str) -> None:
        from robots.vda5050 import actions as act
        from robots.vda5050.builders import make_action

        if len(route.waypoints) < 2:
            return
        live = self.missions.fleet.robots[robot_id]
        edge_actions: dict[int, Sequence[Action]] | None = None
        if self.missions.commander.declares(live, act.LEAD_TO):
            lead = {"destination": destination[:200], "visitorId": escort_id, "speed": float(speed)}
            edge_actions = {i: [make_action(act.LEAD_TO, lead)] for i in range(len(route.waypoints) - 1)}
        await self.missions.drive(robot_id, route, speed=speed, edge_actions=edge_actions)

    async def speak(self, robot_id: str, text: str, lang: str) -> None:
        from robots.vda5050 import actions as act
        from robots.vda5050.builders import make_action

        live = self.missions.fleet.robots.get(robot_id)
        if live is None or not self.missions.commander.declares(live, act.SPEAK):
            raise MissionError(f"robot {robot_id} does not declare the speak action")
        tag = "zh-CN" if lang == "zh" else "en"
        await self.missions.instant_action(robot_id, make_action(act.SPEAK, {"text": text[:500], "language": tag}))

    async def last_waypoint(self, robot_id: str) -> str | None:
        live = self.missions.fleet.robots.get(robot_id)
        park = self.missions.commander.park
        if live is None:
            return None
        if live.last_node_id in park.waypoints:
            return live.last_node_id
        if live.x is not None and live.y is not None:
            return park.nearest_waypoint(live.x, live.y).id
        return None


def guide_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        from patrol.fleet.registry import RobotKind
        from patrol.guide.knowledge import knowledge_path_for, load_knowledge
        from patrol.guide.service import GuideService
        from patrol.guide.voice import VoiceFrontEnd

        park_path = rt.settings.park.map_file or sample_park_path()
        kb_path = knowledge_path_for(park_path)
        if not kb_path.exists():
            log.warning("no guide knowledge base beside %s (%s): the visitor guide is off", park_path, kb_path)
            return []
        kb = await asyncio.to_thread(load_knowledge, kb_path)
        guides = tuple(r.robot_id for r in rt.registry.all() if r.kind is RobotKind.GUIDE)
        executor = VdaEscortExecutor(missions_of(rt))
        guide = GuideService(kb, rt.park, rt.clock, executor=executor if guides else None, robots=guides)
        voice = VoiceFrontEnd(guide, rt.bus, speaker=executor if guides else None)
        rt.bus.subscribe(topics.GUIDE_QUERY_FILTER, voice.handle, 1)
        rt.extras.update(guide=guide, guide_voice=voice)
        return [guide.run]

    return Subsystem("guide", setup)


def missions_of(rt: Runtime) -> RobotMissions:
    """The runtime's one `RobotMissions` (created on first use)."""
    m = rt.extras.get("missions")
    if not isinstance(m, RobotMissions):
        m = RobotMissions(rt.commander, rt.fleet)
        rt.extras["missions"] = m
    return m


def all_subsystems() -> list[Subsystem]:
    from patrol.history import history_subsystem
    from patrol.patrolling import patrol_subsystem
    from patrol.vision_service import vision_subsystem

    return [alarms_subsystem(), history_subsystem(), guide_subsystem(), patrol_subsystem(), vision_subsystem()]
