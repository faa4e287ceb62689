"""Optional subsystems wired into the service's lifespan: alarms and sensors, history, guide,
vision, patrol dispatch. Each is a `Subsystem` whose setup connects it to the runtime (bus
subscriptions, fleet listeners, live hub) and returns its long-running loops.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from patrol.fleet.state import RobotChange

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


def alarms_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        from patrol.alarms.live import LiveEvent
        from patrol.alarms.service import AlarmService
        from patrol.audit import AuditLog
        from patrol.sensors.service import SUBSCRIPTIONS, SensorService

        audit = AuditLog(rt.store.sessions, rt.clock)
        bridge = DispatchBridge()
        alarms = AlarmService(rt.store.sessions, rt.clock, rt.park, rt.bus, bridge, audit)
        sensors = SensorService(rt.store.sessions, rt.clock, alarms, audit)
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
                    await alarms.robot_condition(robot, kind, active, detail, x, y)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("robot condition %s for %s failed", kind, robot)

        rt.extras.update(alarms=alarms, sensors=sensors, audit=audit, dispatch_bridge=bridge)
        return [alarms.run, sensors.run, condition_loop]

    return Subsystem("alarms", setup)


def all_subsystems() -> list[Subsystem]:
    from patrol.history import history_subsystem

    return [alarms_subsystem(), history_subsystem()]
