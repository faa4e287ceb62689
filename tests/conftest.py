"""Fixtures shared by every test: a private Mosquitto per session, the shared/ data folder."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from patrol.broker import BrokerEndpoint, MosquittoProcess, mosquitto_binary

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, reason: str) -> None:
    """Skip with `reason` when `condition` is false; in CI (CI set) fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (VDA 5050 schemas, patrol benchmark graphs)."""
    need(SHARED_DIR.is_dir(), f"{SHARED_DIR} is absent (a user's clone has no ../shared)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def model_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir whose models/ export cache survives between test runs (pytest's cache dir, if enabled)."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("parkpatrol-vision")
    return Path(cache.mkdir("parkpatrol-vision"))


@pytest.fixture(scope="session")
def mosquitto_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """A private Mosquitto on a free port with persistence on, for the whole test session."""
    need(mosquitto_binary() is not None, "mosquitto is not installed (apt-get install mosquitto)")
    proc = MosquittoProcess(data_dir=tmp_path_factory.mktemp("mosquitto"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def broker(mosquitto_proc: MosquittoProcess) -> BrokerEndpoint:
    """Endpoint of the session's private Mosquitto."""
    return mosquitto_proc.endpoint


POSTGRES_ADMIN_URL = os.environ.get("PARKPATROL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _test_db_kind() -> str:
    """`sqlite` (default) or `postgresql` (PARKPATROL_TEST_DB=postgresql: the suite's PostgreSQL pass)."""
    return os.environ.get("PARKPATROL_TEST_DB", "sqlite")


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database for one test: SQLite in tmp_path, or a new PostgreSQL database."""
    if _test_db_kind() != "postgresql":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    import secrets

    import asyncpg

    name = f"pp_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as e:
        need(False, f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {e}")
        raise
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerEndpoint]:
    """A Mosquitto of this test's own: for tests whose simulated devices leave retained messages
    (availability, connection) that would leak into other tests on the session broker."""
    need(mosquitto_binary() is not None, "mosquitto is not installed (apt-get install mosquitto)")
    proc = MosquittoProcess(data_dir=tmp_path_factory.mktemp("mosquitto-private"))
    proc.start()
    try:
        yield proc.endpoint
    finally:
        proc.stop()
