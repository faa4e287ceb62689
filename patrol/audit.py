"""Append-only audit log: who did what to which target, when, and from where.

Every operator action (alarm ack/assign/comment/clear, zone arming, sensor placement, robot
commands) and every automatic step the service takes on an incident (dispatch, escalation) is
recorded here. There is no update or delete API; the table carries database triggers on SQLite
and PostgreSQL that refuse UPDATE and DELETE, and each row holds a SHA-256 hash chained to the
previous row so that tampering below the database's guard is detectable (`AuditLog.verify`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, Integer, String, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from patrol.alarms.coltypes import UTCDateTime, utc_from_clock
from patrol.store.base import Base
from patrol.store.retry import WriteBuffer, submit_or_run
from robots.clock import Clock

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
SYSTEM_ROLE = "system"
SYSTEM_REMOTE = "local"
GENESIS_HASH = "0" * 64


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    remote: Mapped[str] = mapped_column(String(64), nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


# Database guards: the lead's alembic migration should run the same statements (op.execute).
AUDIT_GUARD_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ),
}

for _dialect, _statements in AUDIT_GUARD_DDL.items():
    for _statement in _statements:
        event.listen(AuditRow.__table__, "after_create",
                 DDL(_statement).execute_if(dialect=_dialect))  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: Mapping[str, Any]
    remote: str


def _canonical(detail: Mapping[str, Any]) -> dict[str, Any]:
    """`detail` as plain JSON values (anything else becomes its string form)."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(detail), default=str, sort_keys=True))
    return loaded


def entry_hash(prev_hash: str, at: datetime, actor: str, role: str, action: str, target: str,
               detail: Mapping[str, Any], remote: str) -> str:
    """SHA-256 over the previous hash and this entry's fields."""
    body = json.dumps([prev_hash, at.isoformat(), actor, role, action, target, detail, remote],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """Writes and reads the audit log."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 writes: WriteBuffer | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lock = asyncio.Lock()
        self._writes = writes

    async def record(self, actor: str, role: str, action: str, target: str,
                     detail: Mapping[str, Any], remote: str) -> None:
        """Append one entry. Values are truncated to the column sizes rather than refused. With a write
        buffer, an entry the store cannot take now is written (in order) when it is back."""
        clean = _canonical(detail)
        at = utc_from_clock(self._clock.now())
        actor, role, action = actor[:64], role[:16], action[:64]
        target, remote = target[:128], remote[:64]

        async def write() -> None:
            async with self._lock, self._sessions.begin() as session:
                prev = await session.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))
                prev_hash = prev or GENESIS_HASH
                session.add(AuditRow(
                    at=at, actor=actor, role=role, action=action, target=target, detail=clean, remote=remote,
                    prev_hash=prev_hash,
                    hash=entry_hash(prev_hash, at, actor, role, action, target, clean, remote),
                ))

        await submit_or_run(self._writes, f"audit {action} {target}", write)
        log.info("audit: %s (%s) %s %s from %s", actor, role, action, target, remote)

    async def system(self, action: str, target: str, detail: Mapping[str, Any]) -> None:
        """Record a step the service took on its own."""
        await self.record(SYSTEM_ACTOR, SYSTEM_ROLE, action, target, detail, SYSTEM_REMOTE)

    async def entries(self, *, actor: str | None = None, action: str | None = None,
                      target: str | None = None, since: datetime | None = None,
                      until: datetime | None = None, before_id: int | None = None,
                      limit: int = 100) -> Sequence[AuditEntry]:
        """Newest first, filtered; page with `before_id` (the smallest id of the previous page)."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, 1000)))
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if target is not None:
            query = query.where(AuditRow.target == target)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if until is not None:
            query = query.where(AuditRow.at < until)
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [AuditEntry(r.id, r.at, r.actor, r.role, r.action, r.target, r.detail, r.remote) for r in rows]

    async def verify(self) -> int | None:
        """Check the hash chain; the id of the first entry that does not match, or None if all do."""
        prev_hash = GENESIS_HASH
        async with self._sessions() as session:
            result = await session.stream_scalars(select(AuditRow).order_by(AuditRow.id))
            async for row in result:
                expected = entry_hash(prev_hash, row.at, row.actor, row.role, row.action, row.target,
                                      row.detail, row.remote)
                if row.prev_hash != prev_hash or row.hash != expected:
                    return row.id
                prev_hash = row.hash
        return None
