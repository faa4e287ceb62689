"""The store: an async SQLAlchemy engine (SQLite by default, PostgreSQL by URL), migrated on start."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from patrol.store.retry import RetryPolicy, WriteBuffer

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


class Store:
    """Owns the engine and the session factory; `migrate()` upgrades the schema to head; `writes`
    buffers and retries ingest writes while the database is briefly unavailable (see `retry`)."""

    def __init__(self, url: str, retry: RetryPolicy | None = None) -> None:
        self.url = url
        u = make_url(url)
        self.dialect = u.get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # a server that stops answering must fail a write in seconds (then it is buffered), not hang
            kwargs.update(pool_size=10, max_overflow=10, pool_timeout=10,
                          connect_args={"timeout": 5, "command_timeout": 30})
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.writes = WriteBuffer(retry or RetryPolicy())

    async def migrate(self) -> None:
        """Create or upgrade the schema with alembic (idempotent)."""

        def upgrade(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)
        log.info("database schema at head (%s)", self.dialect)

    async def ping(self, within_s: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(within_s), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()
