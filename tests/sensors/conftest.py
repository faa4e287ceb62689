from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from robots.clock import SimClock
from tests.alarms.harness import ARMED_NIGHT, Harness, create_schema, db_url, make_harness


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = db_url(tmp_path)
    await create_schema(url)
    return url


@pytest.fixture
async def harness(database: str) -> AsyncIterator[Harness]:
    h = await make_harness(database, SimClock(ARMED_NIGHT))
    try:
        yield h
    finally:
        await h.store.close()
