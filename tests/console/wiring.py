"""Subsystems the console tests need: the service's defaults, plus history and alarms until the lead wires them.

`console_subsystems()` starts from `patrol.subsystems.all_subsystems()` and adds only what is
missing, so once the service wires alarms and history itself these tests run against that wiring.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from patrol.alarms.live import LiveEvent
from patrol.alarms.service import AlarmService
from patrol.app import Loop, Subsystem, default_subsystems
from patrol.audit import AuditLog
from patrol.history import history_subsystem
from patrol.runtime import Runtime
from patrol.store.base import Base

LIVE_KINDS = {"alarm": "alarms", "incident": "incidents", "arming": "zones"}


def alarms_subsystem() -> Subsystem:
    """The real AlarmService on the runtime's store, its live feed marked into the console's live hub."""

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        import patrol.alarms.tables
        import patrol.audit as audit_module

        tables = [t.__table__ for t in (patrol.alarms.tables.AlarmRow, patrol.alarms.tables.AlarmEventRow,
                                         patrol.alarms.tables.IncidentRow, patrol.alarms.tables.IncidentEventRow,
                                         patrol.alarms.tables.ArmingOverrideRow, audit_module.AuditRow)]
        async with rt.store.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables, checkfirst=True))
        audit = AuditLog(rt.store.sessions, rt.clock)
        svc = AlarmService(rt.store.sessions, rt.clock, rt.park, rt.bus, None, audit)

        def on_live(ev: LiveEvent) -> None:
            kind = LIVE_KINDS.get(ev.kind)
            if kind is not None:
                key = str(ev.data.get("id", ev.data.get("zone", "")))
                rt.live.mark(kind, key, ev.data)

        svc.subscribe(on_live)
        rt.extras.update(alarms=svc, audit=audit)
        return [svc.run]

    return Subsystem("alarms", setup)


def tables_subsystem() -> Subsystem:
    """Creates any table the migrations do not have yet (a no-op once they do), before the others start."""

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        import patrol.alarms.tables
        import patrol.audit
        import patrol.history
        import patrol.sensors.tables  # noqa: F401

        async with rt.store.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, checkfirst=True))
        return []

    return Subsystem("test-tables", setup)


def console_subsystems() -> list[Subsystem]:
    subs = [tables_subsystem(), *default_subsystems()]
    names = {s.name for s in subs}
    if "alarms" not in names:
        subs.append(alarms_subsystem())
    if "history" not in names:
        subs.append(history_subsystem())
    return subs
