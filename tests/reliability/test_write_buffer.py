"""The store's write buffer on its own, against a real SQLite file locked by another connection: order
holds, the bound drops (counted) rather than grows, and errors that waiting cannot fix are not retried."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from patrol.broker import free_port
from patrol.store.retry import RetryPolicy, WriteBuffer, is_transient

pytestmark = pytest.mark.reliability


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    db = tmp_path / "buffer.db"
    eng = create_async_engine(f"sqlite+aiosqlite:///{db}", connect_args={"timeout": 0.05})
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    try:
        yield eng, db
    finally:
        await eng.dispose()


def _insert(eng: AsyncEngine, n: int, table: str = "t") -> Callable[[], Awaitable[None]]:
    async def write() -> None:
        async with eng.begin() as conn:
            await conn.execute(text(f"INSERT INTO {table} (n) VALUES (:n)"), {"n": n})
    return write


async def _rows(eng: AsyncEngine) -> list[int]:
    async with eng.connect() as conn:
        return [r[0] for r in (await conn.execute(text("SELECT n FROM t ORDER BY rowid"))).all()]


def _lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_locked_store_keeps_order_and_counts_overflow(engine: tuple[AsyncEngine, Path]) -> None:
    eng, db = engine
    buf = WriteBuffer(RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, buffer_size=5))
    holder = _lock(db)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(buf.run())
        done_now = [await buf.submit(f"insert {n}", _insert(eng, n)) for n in range(8)]
        assert done_now == [False] * 8
        assert (buf.pending, buf.stats.dropped, buf.stats.outages) == (5, 3, 1)
        assert buf.degraded and buf.full
        await asyncio.sleep(0.3)  # a few retries against the lock
        assert buf.pending == 5 and buf.stats.retries >= 2
        holder.execute("COMMIT")
        holder.close()
        await asyncio.wait_for(buf.wait_empty(), 10)
        runner.cancel()
    assert await _rows(eng) == [0, 1, 2, 3, 4]
    assert buf.stats.written_late == 5 and buf.stats.failed == 0 and not buf.degraded
    assert buf.stats.last_outage_s is not None and buf.stats.unavailable_since is None
    assert await buf.submit("insert 9", _insert(eng, 9)) is True  # straight through again


async def test_errors_that_waiting_cannot_fix_are_not_retried(engine: tuple[AsyncEngine, Path]) -> None:
    eng, db = engine
    buf = WriteBuffer(RetryPolicy(first_delay_s=0.01, max_delay_s=0.05))
    with pytest.raises(DBAPIError, match="no such table"):
        await buf.submit("missing table", _insert(eng, 1, table="missing"))
    await buf.submit("insert 1", _insert(eng, 1))
    with pytest.raises(IntegrityError):
        await buf.submit("duplicate", _insert(eng, 1))
    assert buf.pending == 0 and buf.stats.buffered == 0
    holder = _lock(db)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(buf.run())
        for n in (2, 1, 3):  # the duplicate 1 fails for good once the store is back; 2 and 3 land
            assert await buf.submit(f"insert {n}", _insert(eng, n)) is False
        holder.execute("COMMIT")
        holder.close()
        await asyncio.wait_for(buf.wait_empty(), 10)
        runner.cancel()
    assert await _rows(eng) == [1, 2, 3]
    assert buf.stats.failed == 1 and buf.stats.written_late == 2 and buf.stats.dropped == 0


async def test_transient_classification_of_real_errors(engine: tuple[AsyncEngine, Path]) -> None:
    eng, db = engine
    holder = _lock(db)
    try:
        with pytest.raises(DBAPIError) as locked:
            await _insert(eng, 1)()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked" in str(locked.value) and is_transient(locked.value)
    with pytest.raises(DBAPIError) as missing:
        await _insert(eng, 1, table="missing")()
    assert not is_transient(missing.value)
    await _insert(eng, 1)()
    with pytest.raises(IntegrityError) as duplicate:
        await _insert(eng, 1)()
    assert not is_transient(duplicate.value)
    refused = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none",
                                  connect_args={"timeout": 2})
    try:
        with pytest.raises(OSError) as no_server:
            async with refused.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await refused.dispose()
    assert is_transient(no_server.value)
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(first_delay_s=0)
