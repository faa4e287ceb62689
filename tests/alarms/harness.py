"""Builds the alarm and sensor services on a temp SQLite store, the test park and a SimClock.

Fakes here are purpose-built and scoped to these tests: `FakeDispatch` stands in for the planner's
dispatcher (a separate room), `FakePublisher` records outbound MQTT when no broker is involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import maps
import patrol.alarms.tables
import patrol.audit
import patrol.auth
import patrol.sensors.tables  # noqa: F401  (tables on Base.metadata)
from patrol.alarms.policy import AlarmPolicy
from patrol.alarms.service import AlarmService, Publisher
from patrol.audit import AuditLog
from patrol.sensors.policy import SensorPolicy
from patrol.sensors.service import SensorService
from patrol.store.base import Base
from patrol.store.db import Store
from robots.clock import SimClock

# Monday 2 March 2026, 23:00 in the park's time zone: the office zone (armed 22:00-07:00) is armed,
# the lawn (armed Mo-Fr 18:00-08:00) too.
ARMED_NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
# Tuesday 3 March 2026, 11:00: office hours, nothing armed by schedule.
DAYTIME = datetime(2026, 3, 3, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
OFFICE_POINT = (10.0, 47.0)  # inside zone tz_office of the test park


@dataclass
class FakeDispatch:
    """Records dispatch requests and recalls; answers with `robot` (None: no robot available)."""

    robot: str | None = "dog-1"
    calls: list[tuple[int, float, float, str | None, str]] = field(default_factory=list)
    recalls: list[int] = field(default_factory=list)

    async def request_dispatch(self, incident_id: int, x: float, y: float, zone: str | None,
                               severity: str) -> str | None:
        self.calls.append((incident_id, x, y, zone, severity))
        return self.robot

    async def recall(self, incident_id: int) -> str | None:
        self.recalls.append(incident_id)
        return self.robot


@dataclass
class FakePublisher:
    """Records what would be published."""

    messages: list[tuple[str, bytes, int, bool]] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append((topic, payload, qos, retain))


@dataclass
class Harness:
    store: Store
    clock: SimClock
    park: maps.Park
    audit: AuditLog
    alarms: AlarmService
    sensors: SensorService
    dispatch: FakeDispatch

    async def close(self) -> None:
        """Let background dispatch and webhook work finish, then close the store."""
        await self.alarms.drain()
        await self.store.close()


async def create_schema(url: str) -> None:
    store = Store(url)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await store.close()


async def make_harness(url: str, clock: SimClock, *, publisher: Publisher | None = None,
                       dispatch: FakeDispatch | None = None, policy: AlarmPolicy | None = None,
                       sensor_policy: SensorPolicy | None = None) -> Harness:
    store = Store(url)
    park = maps.load_park(maps.test_park_path())
    audit = AuditLog(store.sessions, clock)
    dispatch = dispatch if dispatch is not None else FakeDispatch()
    alarms = AlarmService(store.sessions, clock, park, publisher if publisher is not None else FakePublisher(),
                          dispatch, audit, policy)
    sensors = SensorService(store.sessions, clock, alarms, audit, sensor_policy)
    await sensors.load()
    return Harness(store, clock, park, audit, alarms, sensors, dispatch)
