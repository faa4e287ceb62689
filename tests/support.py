"""Test support: run the real service app in-process with its lifespan and an HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from patrol.app import Subsystem, create_app
from patrol.broker import BrokerEndpoint
from patrol.config import Settings, load_settings
from patrol.roles import Role
from patrol.runtime import Runtime

TEST_SECRET = secrets.token_hex(32)


class WithLifespanState:
    """Gives requests the lifespan state, as an ASGI server would."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(self.state)}
        await self.app(scope, receive, send)


def service_settings(data_dir: Path, endpoint: BrokerEndpoint, database_url: str | None = None,
                     **overrides: Any) -> Settings:
    """Settings for a service under test: the given broker, a fresh database, a random secret."""
    base: dict[str, Any] = {
        "data_dir": str(data_dir),
        "database": {"url": database_url},
        "broker": {"url": f"mqtt://{endpoint.host}:{endpoint.port}", "client_id": f"svc-{secrets.token_hex(4)}"},
        "auth": {"secret_key": TEST_SECRET},
        "park": {},
        "vision": {"enabled": False},  # the vision tests switch it on; loading the model costs seconds
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return load_settings(False, base, env={})


@dataclass
class Service:
    app: FastAPI
    runtime: Runtime
    client: httpx.AsyncClient

    async def login_as(self, role: Role) -> dict[str, str]:
        """Create a user with `role` (once) and return bearer headers for it."""
        name = f"test-{role.value}"
        password = f"pw-{role.value}-0123456789"
        if name not in {u.username for u in await self.runtime.auth.list_users()}:
            await self.runtime.auth.add_user(name, password, role)
        r = await self.client.post("/api/auth/login", json={"username": name, "password": password})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, subsystems: list[Subsystem] | None = None,
                          **kwargs: Any) -> AsyncIterator[Service]:
    app = create_app(settings, subsystems=subsystems, **kwargs)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=WithLifespanState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Service(app, state["runtime"], client)


async def register_robots(database_url: str, robots: list[tuple[str, str, str]]) -> None:
    """Put robots (manufacturer, serial, kind) into the registry before a service starts."""
    from patrol.fleet.registry import RobotKind, RobotRegistry
    from patrol.store.db import Store

    store = Store(database_url)
    try:
        await store.migrate()
        registry = RobotRegistry(store.sessions)
        await registry.load()
        for manufacturer, serial, kind in robots:
            await registry.add(manufacturer, serial, RobotKind(kind))
    finally:
        await store.close()


async def until(cond: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Wait (real seconds) until `cond()` holds; fail naming `what` after `within`."""
    for _ in range(int(within / 0.1)):
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")
