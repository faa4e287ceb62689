"""Zone arming: each zone follows its weekly schedule unless a supervisor armed or disarmed it by hand."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patrol.alarms.coltypes import utc_from_clock
from patrol.alarms.live import LiveEvent, LiveHub
from patrol.alarms.model import Actor, ArmingMode
from patrol.alarms.policy import AlarmPolicy
from patrol.alarms.schemas import ZoneArmingPublic
from patrol.alarms.site import ParkLike
from patrol.alarms.tables import ArmingOverrideRow
from patrol.audit import AuditLog
from robots.clock import Clock


class UnknownZoneError(KeyError):
    def __init__(self, zone: str) -> None:
        super().__init__(zone)
        self.zone = zone

    def __str__(self) -> str:
        return f"zone {self.zone!r} is not on the park map"


class ZoneArming:
    """Whether a zone is armed now; manual overrides persist across restarts."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, park: ParkLike,
                 policy: AlarmPolicy, audit: AuditLog, live: LiveHub) -> None:
        self._sessions = sessions
        self._clock = clock
        self._park = park
        self._policy = policy
        self._audit = audit
        self._live = live
        self._overrides: dict[str, ArmingOverrideRow] | None = None
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, ArmingOverrideRow]:
        if self._overrides is None:
            async with self._lock:
                if self._overrides is None:
                    async with self._sessions() as session:
                        rows = (await session.scalars(select(ArmingOverrideRow))).all()
                    self._overrides = {row.zone: row for row in rows}
        return self._overrides

    async def load(self) -> None:
        """Read the manual overrides now (once), so that `is_armed` needs no store afterwards."""
        await self._load()

    def _scheduled(self, zone_id: str, when: datetime) -> bool:
        zone = self._park.zones.get(zone_id)
        return zone is not None and zone.kind in self._policy.armable_zone_kinds and zone.active_at(when)

    async def is_armed(self, zone_id: str | None, when: datetime | None = None) -> bool:
        """Whether `zone_id` is armed at `when` (default now); a point outside every zone is never armed."""
        if zone_id is None or zone_id not in self._park.zones:
            return False
        when = when or utc_from_clock(self._clock.now())
        override = (await self._load()).get(zone_id)
        if override is not None and override.mode == ArmingMode.ARMED:
            return True
        if override is not None and override.mode == ArmingMode.DISARMED:
            return False
        return self._scheduled(zone_id, when)

    async def state(self, zone_id: str) -> ZoneArmingPublic:
        zone = self._park.zones.get(zone_id)
        if zone is None:
            raise UnknownZoneError(zone_id)
        override = (await self._load()).get(zone_id)
        schedule = getattr(getattr(zone, "schedule", None), "text", "")
        return ZoneArmingPublic(
            zone=zone_id, kind=zone.kind, schedule=str(schedule),
            mode=ArmingMode(override.mode) if override else ArmingMode.AUTO,
            armed=await self.is_armed(zone_id),
            set_by=override.set_by if override else None, set_at=override.set_at if override else None,
        )

    async def states(self) -> list[ZoneArmingPublic]:
        return [await self.state(zone_id) for zone_id in self._park.zones]

    async def set_mode(self, zone_id: str, mode: ArmingMode, actor: Actor) -> ZoneArmingPublic:
        """Arm, disarm, or return `zone_id` to its schedule (AUTO); audited."""
        if zone_id not in self._park.zones:
            raise UnknownZoneError(zone_id)
        overrides = await self._load()
        now = utc_from_clock(self._clock.now())
        async with self._lock, self._sessions.begin() as session:
            row = await session.get(ArmingOverrideRow, zone_id)
            if row is None:
                row = ArmingOverrideRow(zone=zone_id, mode=mode.value, set_by=actor.name, set_at=now)
                session.add(row)
            else:
                row.mode, row.set_by, row.set_at = mode.value, actor.name, now
            overrides[zone_id] = ArmingOverrideRow(zone=zone_id, mode=mode.value, set_by=actor.name, set_at=now)
        await self._audit.record(actor.name, actor.role, f"zone.{mode.value}", f"zone:{zone_id}",
                                 {"mode": mode.value}, actor.remote)
        state = await self.state(zone_id)
        self._live.emit(LiveEvent("arming", state.model_dump(mode="json")))
        return state
