"""Authorisation matrix: every route of the app x every role (and anonymous) gets what its dependency says.

The expectation is generated from each route's dependency tree (`require_<role>` or `current_user`),
so a new route is covered the day it is added; a route with no auth dependency fails the test unless
it is one of the few that are public on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount

from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from tests.console.server import live_server
from tests.console.wiring import console_subsystems
from tests.support import running_service, service_settings

ROLES = [Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
RANK = {r: i for i, r in enumerate(ROLES)}
# public on purpose: health probe, login, the visitor kiosk (page and its ask/escort/map calls), API docs
PUBLIC = {
    ("GET", "/api/health"), ("POST", "/api/auth/login"),
    ("POST", "/api/guide/ask"), ("POST", "/api/guide/escort"), ("GET", "/api/guide/escort/{escort_id}"),
    ("DELETE", "/api/guide/escort/{escort_id}"), ("GET", "/api/guide/map"),
    ("GET", "/guide"), ("GET", "/guide/{name}"), ("GET", "/"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
}
PUBLIC_MOUNTS = {"/console", "/vendor/leaflet", "/guide"}  # static files
WEBSOCKETS = {"/api/live"}  # authenticated inside the handler (cookie or ?token=); tested below


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    needs: Role | None  # None: public
    route: Any


def required_role(dependant: Dependant) -> Role | None:
    """The least role a route's dependency tree demands (`current_user` alone means any logged-in user)."""
    found: list[Role] = []

    def walk(d: Dependant) -> None:
        name = getattr(d.call, "__name__", "")
        if name.startswith("require_"):
            found.append(Role(name.removeprefix("require_")))
        elif name == "current_user":
            found.append(Role.VIEWER)
        for sub in d.dependencies:
            walk(sub)

    walk(dependant)
    return max(found, key=lambda r: RANK[r]) if found else None


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, Mount):
            assert route.path in PUBLIC_MOUNTS, f"unexpected mount {route.path}: static files only"
            continue
        if isinstance(route, APIWebSocketRoute):
            assert route.path in WEBSOCKETS, f"websocket {route.path} is not covered by an auth test"
            continue
        methods = sorted(rc.methods or [])
        for method in methods:
            if method == "HEAD":
                continue
            needs = required_role(route.dependant) if isinstance(route, APIRoute) else None
            yield Endpoint(method, str(rc.path), needs, route)


def concrete(path: str, route: Any) -> str:
    """Fill path parameters with values that exist nowhere (ints for int parameters)."""
    out = path
    params = route.dependant.path_params if isinstance(route, APIRoute) else []
    for p in params:
        value = "1" if p.field_info.annotation is int else "nonexistent"
        out = out.replace("{" + p.name + "}", value).replace("{" + p.name + ":path}", value)
    return out


async def test_every_route_by_every_role(tmp_path: Path, broker: BrokerEndpoint, database_url: str) -> None:
    settings = service_settings(tmp_path, broker, database_url)
    async with running_service(settings, subsystems=console_subsystems()) as svc:
        headers: dict[Role | None, dict[str, str]] = {None: {}}
        for role in ROLES:
            headers[role] = await svc.login_as(role)
        svc.client.cookies.clear()  # bearer headers only: anonymous must really be anonymous
        eps = list(endpoints(svc.app))
        assert len(eps) > 20
        unprotected = sorted((e.method, e.path) for e in eps if e.needs is None and (e.method, e.path) not in PUBLIC)
        assert unprotected == [], f"routes with no role dependency: {unprotected}"
        problems: list[str] = []
        not_running: set[str] = set()
        checked = 0
        for ep in eps:
            if ep.needs is None or ep.path == "/api/auth/logout":
                continue
            url = concrete(ep.path, ep.route)
            for who, h in headers.items():
                body: dict[str, Any] | None = {} if ep.method in ("POST", "PUT", "PATCH") else None
                r = await svc.client.request(ep.method, url, headers=h, json=body)
                if r.status_code == 503 and "is not running" in r.text:
                    # the route's subsystem is not in this lineup: it serves nothing to anyone
                    not_running.add(f"{ep.method} {ep.path}")
                    continue
                if who is None:
                    ok = r.status_code == 401
                    want = "401"
                elif RANK[who] < RANK[ep.needs]:
                    ok = r.status_code == 403
                    want = "403"
                else:
                    ok = (r.status_code not in (401, 403) and r.status_code < 500) or r.status_code == 503
                    want = "allowed (2xx/4xx other than 401/403)"
                checked += 1
                if not ok:
                    problems.append(f"{ep.method} {url} as {who.value if who else 'anonymous'}: "
                                    f"{r.status_code}, want {want} ({r.text[:120]})")
        assert problems == [], "\n".join(problems)
        assert checked >= 5 * 20
        print(f"authz matrix: {checked} requests checked; subsystems not running: {sorted(not_running)}")
        assert not any(p.split()[1].startswith(("/api/alarms", "/api/history", "/api/console", "/api/robots"))
                       for p in not_running), not_running
        # logout: anonymous 401, everyone logged in may log out
        assert (await svc.client.post("/api/auth/logout")).status_code == 401
        assert (await svc.client.post("/api/auth/logout", headers=headers[Role.VIEWER])).status_code == 204
        # cookie sessions need the CSRF header on unsafe methods, even for an admin
        name, password = "csrf-admin", "pw-admin-0123456789"
        await svc.runtime.auth.add_user(name, password, Role.ADMIN)
        login = await svc.client.post("/api/auth/login", json={"username": name, "password": password})
        csrf = login.json()["csrf_token"]
        no_header = await svc.client.post("/api/robots/nonexistent/commands", json={"command": "stop"})
        assert no_header.status_code == 403 and "CSRF" in no_header.text
        with_header = await svc.client.post("/api/robots/nonexistent/commands", json={"command": "stop"},
                                            headers={"X-CSRF-Token": csrf})
        assert with_header.status_code == 404
        svc.client.cookies.clear()


def test_live_websocket_needs_a_session(tmp_path: Path, broker: BrokerEndpoint) -> None:
    import httpx
    import orjson
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    with live_server(service_settings(tmp_path, broker), []) as srv:
        ws_url = srv.url.replace("http://", "ws://") + "/api/live"
        for url in (ws_url, ws_url + "?token=forged"):
            with pytest.raises((InvalidStatus, ConnectionClosed)) as refused, connect(url, open_timeout=5) as ws:
                ws.recv(timeout=5)
            if isinstance(refused.value, InvalidStatus):  # closed before the handshake: HTTP 403
                assert refused.value.response.status_code == 403, url
            else:
                closed = refused.value
                assert isinstance(closed, ConnectionClosed) and closed.rcvd is not None
                assert closed.rcvd.code == 4401, url
        name, password = srv.add_user(Role.VIEWER)
        token = httpx.post(srv.url + "/api/auth/login", json={"username": name, "password": password}
                           ).json()["access_token"]
        with connect(f"{ws_url}?token={token}", open_timeout=5) as ws:
            first = orjson.loads(ws.recv(timeout=5))
        assert first["type"] == "snapshot" and first["robots"] == []
