"""Subsystems the console tests run: the service's own lineup, after a step that creates missing tables.

`tables_subsystem` creates any table that the migrations do not have yet (a no-op once they do), so
the tests run against whatever the service wires in `patrol.subsystems.all_subsystems()`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from patrol.app import Loop, Subsystem, default_subsystems
from patrol.runtime import Runtime
from patrol.store.base import Base


def tables_subsystem() -> Subsystem:
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
    if "history" not in names:
        from patrol.history import history_subsystem

        subs.append(history_subsystem())
    return subs
