"""`parkpatrol demo`: an embedded broker, the control service and the simulated park in one process.

The simulator talks to the service only through the broker (VDA 5050, Zigbee2MQTT) and HTTP
(MJPEG cameras), exactly as hardware would. Robots announce themselves and are accepted
automatically (demo mode only). Credentials are throwaway: a fresh admin password and API
token are printed at every start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from patrol.broker import BrokerEndpoint, embedded_broker, free_port
from patrol.config import Settings, load_settings
from patrol.roles import Role

log = logging.getLogger("parkpatrol.demo")
DEMO_USER = "demo-admin"
MANUFACTURER = "parkpatrol-sim"


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own event loop: the demo, not uvicorn, handles Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _prepare(settings: Settings, robots: list[tuple[str, str]]) -> DemoSecrets:
    """Throwaway credentials for this run: the demo admin, and broker accounts for every device.

    Each simulated robot gets its own broker account and ACL, exactly as `parkpatrol robot add`
    + `parkpatrol broker-config` would give a real one; passwords are new at every start.
    """
    from patrol.auth import AuthService
    from patrol.brokerconfig import build_accounts
    from patrol.fleet.registry import RobotKind, RobotRegistry
    from patrol.store.db import Store
    from robots.security import BrokerAccount, auth_config_lines, hash_password, new_password, write_broker_config

    store = Store(settings.database_url)
    try:
        await store.migrate()
        auth = AuthService(store.sessions, settings.auth.secret_key, settings.auth.token_ttl_s)
        password = secrets.token_urlsafe(12)
        try:
            user = await auth.set_password(DEMO_USER, password, Role.ADMIN)
        except KeyError:
            user = await auth.add_user(DEMO_USER, password, Role.ADMIN)
        token = await auth.issue_token(user)
        registry = RobotRegistry(store.sessions)
        await registry.load()
        device_passwords: dict[str, str] = {}
        for serial, kind in robots:
            pw = new_password()
            device_passwords[serial] = pw
            if registry.get(serial) is None:
                await registry.add(MANUFACTURER, serial, RobotKind(kind), password_hash=hash_password(pw))
            else:
                await registry.update(serial, broker_password_hash=hash_password(pw))
        service_pw = new_password()
        gateway_pw = new_password()
        accounts, _ = await build_accounts(settings, registry)
        accounts = [a for a in accounts if a.role.value == "robot"] + [
            BrokerAccount.service("parkpatrol-service", password=service_pw),
            BrokerAccount.sensor_gateway("zigbee2mqtt", password=gateway_pw),
        ]
        paths = write_broker_config(settings.data_dir / "broker-auth", accounts)
    finally:
        await store.close()
    return DemoSecrets(password, token, service_pw, gateway_pw, device_passwords, auth_config_lines(paths))


@dataclass(frozen=True)
class DemoSecrets:
    admin_password: str
    api_token: str
    service_password: str
    gateway_password: str
    robot_passwords: dict[str, str]
    broker_auth_lines: list[str]


def demo_settings(args: argparse.Namespace, camera_base_url: str | None) -> Settings:
    overrides: dict[str, Any] = {
        "demo": True,
        "data_dir": str(args.data_dir or Path("parkpatrol-demo")),
        "auth": {"secret_key": secrets.token_hex(32)},
        "fleet": {"auto_accept": True},
        "http": {"port": 8000 if args.port is None else args.port, "host": args.host or "127.0.0.1"},
        "vision": {"enabled": not args.no_vision, "camera_base_url": camera_base_url},
    }
    if args.map:
        overrides["park"] = {"map_file": str(args.map)}
    return load_settings(args.config, overrides)


async def _run(args: argparse.Namespace) -> int:
    from maps import load_park, sample_park_path
    from patrol.app import create_app
    from robots.clock import WallClock
    from simulator.mqtt import BrokerSpec, Credentials
    from simulator.runner import RobotSpec, Simulation

    camera_port = free_port()
    settings = demo_settings(args, f"http://127.0.0.1:{camera_port}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    park = load_park(settings.park.map_file or sample_park_path())
    robots = [RobotSpec(f"dog-{i:02d}", "patrol_dog") for i in range(1, args.robots + 1)] + [
        RobotSpec("guide-01", "guide")]
    demo = await _prepare(settings, [(r.serial, r.kind) for r in robots])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        endpoint: BrokerEndpoint = await stack.enter_async_context(
            embedded_broker(settings.data_dir, extra_config=demo.broker_auth_lines, allow_anonymous=False))
        secured = endpoint.engine == "mosquitto"  # the amqtt fallback has no ACLs: anonymous on loopback
        if secured:
            settings = settings.model_copy(update={"broker": settings.broker.model_copy(
                update={"username": "parkpatrol-service", "password": demo.service_password})})
        app = create_app(settings, broker=endpoint)
        server = EmbeddedServer(uvicorn.Config(app, host=settings.http.host, port=settings.http.port,
                                               log_level="warning", ws="websockets-sansio", lifespan="on"))
        serve_task = asyncio.create_task(server.serve())
        while not server.started:
            if serve_task.done():
                await serve_task
                print("parkpatrol demo: the service failed to start (is the port free?)", file=sys.stderr)
                return 1
            await asyncio.sleep(0.05)
        creds: dict[str, Credentials] = {}
        if secured:
            creds = {serial: Credentials(f"robot-{serial}", pw) for serial, pw in demo.robot_passwords.items()}
            creds["zigbee2mqtt"] = Credentials("zigbee2mqtt", demo.gateway_password)
        sim_stack = contextlib.AsyncExitStack()
        await sim_stack.enter_async_context(Simulation(
            park, BrokerSpec(endpoint.host, endpoint.port, creds), clock=WallClock(), seed=args.seed,
            robots=robots, camera_port=camera_port))
        url = f"http://{settings.http.host}:{settings.http.port}/"
        print(f"ParkPatrol demo running — broker {endpoint.engine} at {endpoint.url}"
              + (" (per-device accounts and ACLs)" if secured else " (anonymous, loopback only)"), flush=True)
        print(f"Console:  {url}", flush=True)
        print(f"Kiosk:    {url}guide/", flush=True)
        print(f"Login:    {DEMO_USER} / {demo.admin_password}   (throwaway demo credentials)", flush=True)
        print(f"API token: {demo.api_token}", flush=True)
        print(f"Headless for {args.duration} s." if args.duration else "Press Ctrl-C to stop.", flush=True)
        try:
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({waiter, serve_task}, timeout=args.duration,
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if serve_task in done:
                print("parkpatrol demo: the service stopped unexpectedly", file=sys.stderr)
                return 1
        finally:
            await sim_stack.aclose()  # simulator first, then the service, then (stack) the broker
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serve_task
    print("ParkPatrol demo stopped.", flush=True)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("parkpatrol.demo").setLevel(logging.INFO)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
