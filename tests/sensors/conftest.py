from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from robots.clock import SimClock
from tests.alarms.harness import ARMED_NIGHT, Harness, create_schema, make_harness


@pytest.fixture
async def database(database_url: str) -> str:
    """The test's fresh database (SQLite, or PostgreSQL in the suite's PostgreSQL pass) with our tables."""
    await create_schema(database_url)
    return database_url


@pytest.fixture
async def harness(database: str) -> AsyncIterator[Harness]:
    h = await make_harness(database, SimClock(ARMED_NIGHT))
    try:
        yield h
    finally:
        await h.close()
