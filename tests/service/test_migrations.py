"""Alembic migrations: upgrade, downgrade and upgrade again; the schema matches the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

import patrol.store.tables  # noqa: F401
from patrol.store.base import Base
from patrol.store.db import Store, alembic_config


async def test_migrations_round_trip_and_match_models(database_url: str) -> None:
    store = Store(database_url)
    try:
        await store.migrate()

        def down_and_up(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            command.upgrade(cfg, "head")

        def diff(conn: Connection) -> list[object]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))

        async with store.engine.begin() as conn:
            await conn.run_sync(down_and_up)
        async with store.engine.connect() as conn:
            changes = await conn.run_sync(diff)
        assert changes == [], f"models and migrations differ; generate a migration: {changes}"
        await store.migrate()  # idempotent
    finally:
        await store.close()
