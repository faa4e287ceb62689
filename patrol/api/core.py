"""Core routes: health, login, users, robots, the park map, the live WebSocket."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from patrol.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AdminUser,
    ClientAddr,
    CurrentUser,
    OperatorUser,
    SupervisorUser,
    ViewerUser,
    get_auth,
    state_item,
)
from patrol.auth import AuthError, AuthService, ThrottledError, UserExistsError
from patrol.fleet.commands import Command, CommandError
from patrol.fleet.registry import RobotKind, RobotStatus
from patrol.roles import Role
from patrol.runtime import Runtime

router = APIRouter(prefix="/api")


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = state_item(request, "runtime", Runtime)
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
AuthDep = Annotated[AuthService, Depends(get_auth)]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- health -------------------------------------------------------------------------------------
class ComponentHealth(BaseModel):
    ok: bool
    required: bool
    detail: str


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded", "down"]
    components: dict[str, ComponentHealth]
    robots_online: int
    robots_total: int


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}},
            summary="Health of each component (no login; 503 when a required one is down)")
async def health(rt: RuntimeDep) -> JSONResponse:
    db_ok = await rt.store.ping()
    rt.database_ok = db_ok
    database = _database_health(rt, db_ok)
    online = sum(1 for r in rt.fleet.robots.values() if r.online)
    comps: dict[str, ComponentHealth] = {
        "broker": ComponentHealth(ok=rt.bus.connected, required=True,
                                  detail=f"{rt.broker.engine} {rt.broker.host}:{rt.broker.port}"
                                  + ("" if rt.bus.connected else f" — {rt.bus.last_error or 'connecting'}")),
        "database": database,
        "robots": ComponentHealth(ok=online > 0 or not rt.fleet.robots, required=False,
                                  detail=f"{online} of {len(rt.fleet.robots)} online"),
    }
    for name, probe in rt.extras.get("health_probes", {}).items():
        ok, required, detail = probe()
        comps[name] = ComponentHealth(ok=ok, required=required, detail=detail)
    down = any(c.required and not c.ok for c in comps.values())
    degraded = any(not c.ok for c in comps.values())
    body = HealthPublic(status="down" if down else "degraded" if degraded else "ok", components=comps,
                        robots_online=online, robots_total=len(rt.fleet.robots))
    return JSONResponse(body.model_dump(), status_code=503 if down else 200)


def _database_health(rt: Runtime, reachable: bool) -> ComponentHealth:
    """Unreachable or refusing writes while the write buffer still has room is "degraded" (ingest goes on,
    nothing is lost yet); once the buffer is full writes are being dropped and the service is "down"."""
    writes = rt.store.writes
    if reachable and not writes.degraded:
        return ComponentHealth(ok=True, required=True, detail=rt.store.dialect)
    state = "reachable but refusing writes" if reachable else "unreachable"
    detail = (f"{rt.store.dialect} {state} ({writes.stats.last_error or 'no answer'}); "
              f"{writes.pending} of {writes.policy.buffer_size} writes buffered, retrying")
    if writes.full:
        detail += f"; buffer full, {writes.stats.dropped} writes dropped"
    return ComponentHealth(ok=False, required=writes.full, detail=detail)


@router.get("/metrics", summary="Ingest and rejection counters")
async def metrics(rt: RuntimeDep, user: ViewerUser) -> dict[str, Any]:
    return {"bus": rt.bus.stats.as_dict(), "fleet": rt.fleet.stats(),
            "store": {**rt.store.writes.stats.as_dict(), "pending": rt.store.writes.pending},
            "live": {"clients": len(rt.live.clients), "slow_disconnects": rt.live.slow_disconnects}}


# -- auth -----------------------------------------------------------------------------------------
class LoginBody(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    username: str
    role: Role
    csrf_token: str


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role


@router.post("/auth/login", response_model=TokenPublic, responses={401: {}, 429: {}})
async def login(body: LoginBody, response: Response, auth: AuthDep, client: ClientAddr, rt: RuntimeDep
                ) -> TokenPublic:
    try:
        user = await auth.authenticate(body.username, body.password, client)
    except ThrottledError as e:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e),
                            headers={"Retry-After": str(int(e.retry_after) + 1)}) from e
    except AuthError as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e)) from e
    token = await auth.issue_token(user)
    csrf = secrets.token_urlsafe(24)
    secure = rt.settings.auth.cookie_secure
    response.set_cookie(SESSION_COOKIE, token, max_age=auth.token_ttl_s, httponly=True, samesite="strict",
                        secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=auth.token_ttl_s, httponly=False, samesite="strict",
                        secure=secure)
    return TokenPublic(access_token=token, expires_in=auth.token_ttl_s, username=user.username, role=user.role,
                       csrf_token=csrf)


@router.post("/auth/logout", status_code=204)
async def logout(response: Response, user: CurrentUser) -> Response:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic(id=user.id, username=user.username, role=user.role)


class UserCreate(StrictBody):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=256)
    role: Role


@router.get("/users", response_model=list[UserPublic])
async def list_users(user: AdminUser, auth: AuthDep) -> list[UserPublic]:
    return [UserPublic(id=u.id, username=u.username, role=u.role) for u in await auth.list_users()]


@router.post("/users", response_model=UserPublic, status_code=201, responses={409: {}})
async def create_user(body: UserCreate, user: AdminUser, auth: AuthDep, rt: RuntimeDep, client: ClientAddr
                      ) -> UserPublic:
    try:
        u = await auth.add_user(body.username, body.password, body.role)
    except UserExistsError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    await audit(rt, user.username, user.role.value, "user.create", f"user:{u.username}", {"role": u.role.value},
                client)
    return UserPublic(id=u.id, username=u.username, role=u.role)


async def audit(rt: Runtime, actor: str, role: str, action: str, target: str, detail: dict[str, Any],
                remote: str) -> None:
    log = rt.extras.get("audit")
    if log is not None:
        await log.record(actor=actor, role=role, action=action, target=target, detail=detail, remote=remote)


# -- park -----------------------------------------------------------------------------------------
@router.get("/park", summary="The park map as GeoJSON (WGS84)")
async def park(rt: RuntimeDep, user: ViewerUser) -> dict[str, Any]:
    return rt.park.geojson()


# -- robots ---------------------------------------------------------------------------------------
class RobotPublic(BaseModel):
    robot_id: str
    manufacturer: str
    serial_number: str
    kind: str
    online: bool
    connection: str
    x: float | None
    y: float | None
    theta: float | None
    lat: float | None = None
    lon: float | None = None
    battery: float | None
    charging: bool
    driving: bool
    paused: bool
    e_stop: str
    order_id: str
    last_node_id: str
    node_ids_ahead: list[str]
    errors: list[dict[str, str]]
    last_seen: float


def robot_public(rt: Runtime, d: dict[str, Any]) -> RobotPublic:
    lat = lon = None
    if d.get("x") is not None and d.get("y") is not None:
        lat, lon = rt.park.to_wgs84(d["x"], d["y"])
    return RobotPublic.model_validate({**d, "lat": lat, "lon": lon})


@router.get("/robots", response_model=list[RobotPublic])
async def list_robots(rt: RuntimeDep, user: ViewerUser) -> list[RobotPublic]:
    return [robot_public(rt, d) for d in rt.fleet.snapshot()]


@router.get("/robots/{robot_id}", response_model=RobotPublic, responses={404: {}})
async def get_robot(robot_id: str, rt: RuntimeDep, user: ViewerUser) -> RobotPublic:
    live = rt.fleet.robots.get(robot_id)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"robot_id: no robot {robot_id!r}")
    return robot_public(rt, live.public())


class CommandBody(StrictBody):
    command: Command
    waypoint: str | None = Field(None, max_length=64)
    x: float | None = Field(None, allow_inf_nan=False)
    y: float | None = Field(None, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    duration: float | None = Field(None, gt=0, le=600)


class CommandPublic(BaseModel):
    robot_id: str
    command: Command
    order_id: str | None
    action_ids: list[str]


@router.post("/robots/{robot_id}/commands", response_model=CommandPublic, status_code=202,
             responses={404: {}, 409: {}})
async def command_robot(robot_id: str, body: CommandBody, rt: RuntimeDep, user: OperatorUser, client: ClientAddr
                        ) -> CommandPublic:
    if robot_id not in rt.fleet.robots:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"robot_id: no robot {robot_id!r}")
    params = body.model_dump(exclude_none=True, exclude={"command"})
    try:
        res = await rt.commander.execute(robot_id, body.command, params)
    except CommandError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    await audit(rt, user.username, user.role.value, f"robot.{body.command.value}", f"robot:{robot_id}", params,
                client)
    hook = rt.extras.get("on_operator_command")
    if hook is not None:
        hook(robot_id, body.command)
    return CommandPublic(robot_id=robot_id, command=res.command, order_id=res.order_id,
                         action_ids=list(res.action_ids))


class PendingPublic(BaseModel):
    manufacturer: str
    serial_number: str
    first_seen: float
    last_seen: float
    messages: int


@router.get("/robots-pending", response_model=list[PendingPublic])
async def pending_robots(rt: RuntimeDep, user: SupervisorUser) -> list[PendingPublic]:
    return [PendingPublic.model_validate(p.__dict__) for p in rt.fleet.pending.values()]


class AcceptBody(StrictBody):
    manufacturer: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    serial_number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: RobotKind = RobotKind.PATROL_DOG


@router.post("/robots-pending/accept", response_model=RobotPublic, status_code=201, responses={409: {}})
async def accept_robot(body: AcceptBody, rt: RuntimeDep, user: SupervisorUser, client: ClientAddr) -> RobotPublic:
    try:
        rec = await rt.registry.add(body.manufacturer, body.serial_number, body.kind, status=RobotStatus.ACCEPTED)
    except ValueError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    rt.fleet.pending.pop((body.manufacturer, body.serial_number), None)
    rt.fleet.seed_from_registry()
    await audit(rt, user.username, user.role.value, "robot.accept", f"robot:{rec.robot_id}",
                {"kind": rec.kind.value}, client)
    return robot_public(rt, rt.fleet.robots[rec.robot_id].public())


# -- live -----------------------------------------------------------------------------------------
@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Snapshot, then coalesced deltas. Auth: the session cookie or `?token=`."""
    rt = getattr(ws.state, "runtime", None)
    auth = getattr(ws.state, "auth", None)
    token = ws.cookies.get(SESSION_COOKIE) or ws.query_params.get("token")
    if not isinstance(rt, Runtime) or not isinstance(auth, AuthService) or not token:
        await ws.close(code=4401)
        return
    try:
        await auth.verify_token(token)
    except AuthError:
        await ws.close(code=4401)
        return
    await ws.accept()
    client, snapshot = rt.live.connect()

    async def sender() -> None:
        await ws.send_bytes(snapshot)
        while True:
            msg = await client.queue.get()
            if not msg:  # the hub dropped us as too slow: close, the client resyncs
                await ws.close(code=4408)
                return
            await ws.send_bytes(msg)

    async def receiver() -> None:
        # notices a client that leaves while nothing is being sent (and ignores what it says)
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        rt.live.disconnect(client)
