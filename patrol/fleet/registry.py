"""The robot registry: which robots may join the park, their kind, capabilities and credentials.

A robot is known by `(manufacturer, serialNumber)` as on its VDA 5050 topics; `robot_id` is the
serial number (unique in the park). Robots seen on the broker but not registered wait as
`pending` until an operator accepts them (or `fleet.auto_accept` in the demo).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from patrol.store.base import Base

ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class RobotKind(enum.StrEnum):
    PATROL_DOG = "patrol_dog"
    GUIDE = "guide"


class RobotStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"


class RobotRow(Base):
    __tablename__ = "robots"
    __table_args__ = (UniqueConstraint("manufacturer", "serial_number"),)

    robot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    manufacturer: Mapped[str] = mapped_column(String(64), nullable=False)
    serial_number: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    home_charger: Mapped[str | None] = mapped_column(String(64), nullable=True)
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    broker_username: Mapped[str] = mapped_column(String(128), nullable=False)
    broker_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


@dataclass(frozen=True)
class RobotRecord:
    robot_id: str
    manufacturer: str
    serial_number: str
    kind: RobotKind
    status: RobotStatus
    broker_username: str
    home_charger: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    broker_password_hash: str | None = None

    @classmethod
    def from_row(cls, r: RobotRow) -> RobotRecord:
        return cls(r.robot_id, r.manufacturer, r.serial_number, RobotKind(r.kind), RobotStatus(r.status),
                   r.broker_username, r.home_charger, dict(r.capabilities or {}), r.broker_password_hash)


def check_identifier(value: str, what: str) -> str:
    if not 1 <= len(value) <= 64 or not set(value) <= ID_CHARS:
        raise ValueError(f"{what} {value!r}: 1-64 characters of letters, digits, _ . -")
    return value


class RobotRegistry:
    """CRUD over the `robots` table, with an in-memory index for the hot ingest path."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._by_key: dict[tuple[str, str], RobotRecord] = {}

    async def load(self) -> None:
        async with self._sessions() as s:
            rows = (await s.scalars(select(RobotRow))).all()
        self._by_key = {(r.manufacturer, r.serial_number): RobotRecord.from_row(r) for r in rows}

    def lookup(self, manufacturer: str, serial: str) -> RobotRecord | None:
        return self._by_key.get((manufacturer, serial))

    def all(self) -> Sequence[RobotRecord]:
        return sorted(self._by_key.values(), key=lambda r: r.robot_id)

    def get(self, robot_id: str) -> RobotRecord | None:
        return next((r for r in self._by_key.values() if r.robot_id == robot_id), None)

    async def add(self, manufacturer: str, serial: str, kind: RobotKind, *, status: RobotStatus = RobotStatus.ACCEPTED,
                  home_charger: str | None = None, password_hash: str | None = None,
                  capabilities: dict[str, Any] | None = None) -> RobotRecord:
        check_identifier(manufacturer, "manufacturer")
        check_identifier(serial, "serial number")
        async with self._sessions.begin() as s:
            if await s.get(RobotRow, serial) is not None:
                raise ValueError(f"robot {serial!r} is already registered")
            row = RobotRow(robot_id=serial, manufacturer=manufacturer, serial_number=serial, kind=kind.value,
                           status=status.value, home_charger=home_charger, capabilities=capabilities or {},
                           broker_username=f"robot-{serial}", broker_password_hash=password_hash,
                           created_at=datetime.now(UTC))
            s.add(row)
        rec = RobotRecord.from_row(row)
        self._by_key[(manufacturer, serial)] = rec
        return rec

    async def update(self, robot_id: str, **changes: Any) -> RobotRecord:
        allowed = {"status", "home_charger", "capabilities", "broker_password_hash", "kind"}
        bad = set(changes) - allowed
        if bad:
            raise ValueError(f"cannot change {sorted(bad)}")
        async with self._sessions.begin() as s:
            row = await s.get(RobotRow, robot_id)
            if row is None:
                raise KeyError(robot_id)
            for k, v in changes.items():
                setattr(row, k, v.value if isinstance(v, enum.Enum) else v)
        rec = RobotRecord.from_row(row)
        self._by_key[(rec.manufacturer, rec.serial_number)] = rec
        return rec

    async def remove(self, robot_id: str) -> bool:
        async with self._sessions.begin() as s:
            row = await s.get(RobotRow, robot_id)
            if row is None:
                return False
            await s.delete(row)
        self._by_key.pop((row.manufacturer, row.serial_number), None)
        return True
