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
from pathlib import Path
from typing import Any

import uvicorn

from patrol.broker import BrokerEndpoint, embedded_broker, free_port
from patrol.config import Settings, load_settings
from patrol.roles import Role

log = logging.getLogger("parkpatrol.demo")
DEMO_USER = "demo-admin"


async def _demo_credentials(settings: Settings) -> tuple[str, str]:
    from patrol.auth import AuthService
    from patrol.store.db import Store

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
        return password, token
    finally:
        await store.close()


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
    from simulator.runner import Simulation, SimulationConfig

    base = demo_settings(args, None)
    base.data_dir.mkdir(parents=True, exist_ok=True)
    park = load_park(base.park.map_file or sample_park_path())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        endpoint: BrokerEndpoint = await stack.enter_async_context(embedded_broker(base.data_dir))
        camera_port = free_port()
        sim_cfg = SimulationConfig(patrol_dogs=args.robots, guide_robots=1, seed=args.seed,
                                   camera_port=camera_port)
        camera_base = f"http://127.0.0.1:{camera_port}"
        settings = demo_settings(args, camera_base)
        password, token = await _demo_credentials(settings)
        app = create_app(settings, broker=endpoint)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.http.host, port=settings.http.port,
                                               log_level="warning", ws="websockets-sansio", lifespan="on"))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        serve_task = asyncio.create_task(server.serve())
        while not server.started:
            if serve_task.done():
                await serve_task
                print("parkpatrol demo: the service failed to start", file=sys.stderr)
                return 1
            await asyncio.sleep(0.05)
        sim_stack = contextlib.AsyncExitStack()
        await sim_stack.enter_async_context(Simulation(park, endpoint, WallClock(), sim_cfg))
        url = f"http://{settings.http.host}:{settings.http.port}/"
        print(f"ParkPatrol demo running — broker {endpoint.engine} at {endpoint.url}", flush=True)
        print(f"Console:  {url}", flush=True)
        print(f"Kiosk:    {url}guide/", flush=True)
        print(f"Login:    {DEMO_USER} / {password}   (throwaway demo credentials)", flush=True)
        print(f"API token: {token}", flush=True)
        print("Press Ctrl-C to stop." if not args.headless else f"Headless for {args.duration or 'ever'} s.",
              flush=True)
        try:
            if args.duration:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
        finally:
            await sim_stack.aclose()  # simulator first, then the service, then (stack) the broker
            server.should_exit = True
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
