"""The one lifespan that wires the control service, and the FastAPI app around it.

Order of start: store (migrated) -> auth and registry -> park map -> broker (embedded or external)
-> MQTT bus -> fleet state, commands, live hub -> optional subsystems (alarms, sensors, vision,
guide, patrol dispatch) registered through `Subsystem` hooks. Everything is entered on one
AsyncExitStack and long-running loops are owned by one TaskGroup, so shutdown is orderly and
nothing exists at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DBAPIError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from maps import Park, load_park, sample_park_path
from patrol import topics
from patrol.api import core
from patrol.auth import AuthService
from patrol.broker import BrokerEndpoint, embedded_broker
from patrol.bus import BrokerAddress, MqttBus, TlsFiles
from patrol.config import Settings
from patrol.fleet.commands import RobotCommander
from patrol.fleet.registry import RobotKind, RobotRegistry, RobotStatus
from patrol.fleet.state import FleetState, RobotChange, RobotLive
from patrol.live import LiveHub
from patrol.runtime import Runtime
from patrol.store.db import Store
from patrol.store.retry import RetryPolicy, is_transient, raised_by_database
from robots.clock import Clock, WallClock
from robots.vda5050.topics import service_subscriptions

log = logging.getLogger(__name__)
Loop = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Subsystem:
    """An optional part of the service: set up with the runtime, may add routes and tasks.

    `setup(runtime, stack)` enters what it needs on the exit stack and returns the long-running
    coroutines to start in the TaskGroup.
    """

    name: str
    setup: Callable[[Runtime, AsyncExitStack], Awaitable[list[Loop]]]


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                               "connect-src 'self' ws: wss:; frame-ancestors 'none'",
}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response


def robot_view(park: Park, robot: RobotLive) -> dict[str, Any]:
    """A robot as the console and API show it: the live state plus WGS84 position."""
    d = robot.public()
    d["lat"] = d["lon"] = None
    if robot.x is not None and robot.y is not None:
        d["lat"], d["lon"] = park.to_wgs84(robot.x, robot.y)
    return d


def _robot_changed(live: LiveHub) -> Callable[[RobotChange], None]:
    def on_change(change: RobotChange) -> None:
        live.mark("robots", change.after.robot_id, change.after)

    return on_change


async def _auto_accept_loop(rt: Runtime) -> None:
    """Demo mode: register robots that announce themselves (never on outside demo mode)."""
    while True:
        await rt.clock.sleep(0.5)
        while rt.fleet.auto_accept_requests:
            manufacturer, serial = rt.fleet.auto_accept_requests.pop(0)
            if rt.registry.lookup(manufacturer, serial) is not None:
                continue
            kind = RobotKind.GUIDE if "guide" in serial.lower() else RobotKind.PATROL_DOG
            try:
                await rt.registry.add(manufacturer, serial, kind, status=RobotStatus.ACCEPTED)
            except ValueError as e:
                log.warning("auto-accept of %s/%s failed: %s", manufacturer, serial, e)
                continue
            except Exception as e:
                if not is_transient(e):
                    raise
                log.warning("auto-accept of %s/%s waits for the store: %s", manufacturer, serial, e)
                rt.fleet.auto_accept_requests.insert(0, (manufacturer, serial))
                break
            rt.fleet.pending.pop((manufacturer, serial), None)
            rt.fleet.seed_from_registry()
            log.info("demo auto-accepted robot %s/%s as %s", manufacturer, serial, kind.value)
            # ask it for its state and factsheet now rather than waiting for the next report
            with contextlib.suppress(Exception):
                from robots.vda5050 import actions as act
                from robots.vda5050.builders import make_action

                await rt.commander.instant(serial, [make_action(act.STATE_REQUEST), make_action(act.FACTSHEET_REQUEST)])


async def _request_states(rt: Runtime) -> None:
    """After a (re)start, ask every registered robot for its state and factsheet now: orders and
    positions resynchronise at once instead of at each robot's next periodic report."""
    from robots.vda5050 import actions as act
    from robots.vda5050.builders import make_action

    for rec in rt.registry.all():
        with contextlib.suppress(Exception):
            await rt.commander.instant(rec.robot_id, [make_action(act.STATE_REQUEST),
                                                      make_action(act.FACTSHEET_REQUEST)])


async def _liveness_loop(rt: Runtime) -> None:
    connects = rt.bus.stats.connects
    while True:
        await rt.clock.sleep(1.0)
        rt.fleet.expire(rt.settings.fleet.offline_after_s)
        if rt.bus.stats.connects != connects and rt.bus.connected:  # back after a broker outage: resync
            connects = rt.bus.stats.connects
            await _request_states(rt)


async def _broker_endpoint(settings: Settings, stack: AsyncExitStack) -> BrokerEndpoint:
    if settings.broker.url == "embedded":
        return await stack.enter_async_context(embedded_broker(settings.data_dir))
    addr = BrokerAddress.parse(settings.broker.url)
    return BrokerEndpoint(addr.host, addr.port, "external")


def create_app(settings: Settings, *, clock: Clock | None = None, subsystems: list[Subsystem] | None = None,
               broker: BrokerEndpoint | None = None) -> FastAPI:
    """The service as an ASGI app. `broker` overrides the configured broker (demo, tests)."""
    settings.check_secrets()
    clk = clock or WallClock()
    extra_subsystems = list(subsystems if subsystems is not None else default_subsystems())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = Store(settings.database_url, RetryPolicy(max_delay_s=settings.database.retry_max_delay_s,
                                                             buffer_size=settings.database.write_buffer))
            stack.push_async_callback(store.close)
            await store.migrate()
            auth = AuthService(store.sessions, settings.auth.secret_key, settings.auth.token_ttl_s)
            registry = RobotRegistry(store.sessions)
            await registry.load()
            park = load_park(settings.park.map_file or sample_park_path())
            endpoint = broker or await _broker_endpoint(settings, stack)
            tls = None
            if settings.broker.ca_file or settings.broker.cert_file:
                tls = TlsFiles(settings.broker.ca_file, settings.broker.cert_file, settings.broker.key_file)
            bus = MqttBus(BrokerAddress(endpoint.host, endpoint.port, settings.broker.url.startswith("mqtts")),
                          client_id=settings.broker.client_id, username=settings.broker.username,
                          password=settings.broker.password, keepalive_s=settings.broker.keepalive_s, tls=tls)
            fleet = FleetState(registry, park, interface=settings.broker.vda_interface,
                               max_payload_bytes=settings.fleet.max_payload_bytes,
                               auto_accept=settings.fleet.auto_accept and settings.demo, clock=clk.now)
            fleet.seed_from_registry()
            commander = RobotCommander(park, fleet, registry, bus.publish, clk, settings.broker.vda_interface)
            rt = Runtime(settings=settings, clock=clk, store=store, auth=auth, park=park, broker=endpoint, bus=bus,
                         registry=registry, fleet=fleet, commander=commander, live=LiveHub(
                             lambda: {"robots": fleet.snapshot()}, clk))
            snapshot_parts: dict[str, Callable[[], Any]] = {
                "robots": lambda: [robot_view(park, r) for r in sorted(fleet.robots.values(),
                                                                       key=lambda r: r.robot_id)]}
            rt.extras["snapshot_parts"] = snapshot_parts
            rt.live.snapshot = lambda: {k: f() for k, f in snapshot_parts.items()}
            rt.live.renderers["robots"] = lambda r: robot_view(park, r)
            fleet.listen(_robot_changed(rt.live))
            for pattern, qos in service_subscriptions(settings.broker.vda_interface):
                bus.subscribe(pattern, fleet.handle, qos)
            loops: list[Loop] = [bus.run, rt.live.run, lambda: _liveness_loop(rt), store.writes.run]
            if fleet.auto_accept:
                loops.append(lambda: _auto_accept_loop(rt))
            # The bus closes after every subsystem (exit stack order), so their shutdown can still
            # publish (vision's "camera offline", ...); it starts after they have all subscribed, so
            # nothing the persistent session holds arrives before its handler exists.
            stack.push_async_callback(bus.stop)
            for sub in extra_subsystems:
                loops.extend(await sub.setup(rt, stack))
            await bus.start()
            if not await bus.wait_connected(10.0):
                log.error("broker %s:%d not reachable yet (%s); the service keeps retrying",
                          endpoint.host, endpoint.port, bus.last_error)
            else:
                await _request_states(rt)
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(loop()) for loop in loops]
                log.info("ParkPatrol service up: %d robots registered, broker %s", len(registry.all()), endpoint.url)
                try:
                    yield rt.state()
                finally:
                    for t in tasks:
                        t.cancel()

    app = FastAPI(title="ParkPatrol", version="0.1.0", lifespan=lifespan,
                  description="Control service for a business park's robot dogs, guide robot, sensors and cameras.")
    app.add_middleware(SecurityHeaders)
    for error in (DBAPIError, ConnectionError, TimeoutError):
        app.add_exception_handler(error, _store_unavailable)
    app.include_router(core.router)
    for sub_router in _routers():
        app.include_router(sub_router)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return RedirectResponse("/console/")

    _mount_static(app)
    return app


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """A route that needs the database while it is briefly away answers 503, not 500."""
    if not is_transient(exc):
        raise exc
    what = "the database" if raised_by_database(exc) else "a backing service"
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    log.warning("%s %s: %s is unavailable (%s); answered 503", request.method, request.url.path, what, reason)
    return JSONResponse({"detail": f"{what} is unavailable ({type(exc).__name__}: {reason}); "
                                   "the service keeps retrying, try again in a few seconds"},
                        status_code=503, headers={"Retry-After": "5"})


def _routers() -> list[APIRouter]:
    from patrol import patrolling, vision_service
    from patrol.alarms import api as alarms_api
    from patrol.console import api as console_api
    from patrol.guide import api as guide_api

    return [alarms_api.router, guide_api.router, console_api.router, patrolling.router, vision_service.router]


def _mount_static(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    console = Path(__file__).with_name("console") / "static"
    if console.is_dir():
        app.mount("/console", StaticFiles(directory=console, html=True), name="console")
    try:
        import xstatic.pkg.leaflet as leaflet

        app.mount("/vendor/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")
    except ImportError:  # pragma: no cover - a declared dependency
        log.warning("xstatic-leaflet missing: the console map cannot load")
    guide = Path(__file__).with_name("guide") / "static"
    if guide.is_dir():
        app.mount("/guide", StaticFiles(directory=guide, html=True), name="guide")


def default_subsystems() -> list[Subsystem]:
    from patrol.subsystems import all_subsystems

    return all_subsystems()


__all__ = ["Subsystem", "create_app", "topics"]
