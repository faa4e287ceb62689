"""`parkpatrol` command line: serve, demo, users, robots, broker config, and each room's commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from patrol.config import ConfigError, Settings, load_settings

log = logging.getLogger("parkpatrol")

# rooms that contribute subcommands: module -> (function for top-level commands, for `bench`)
COMMAND_MODULES = ("maps.cli", "robots.cli", "vision.cli", "simulator.cli", "patrol.planner.cli", "patrol.alarms.cli",
                   "patrol.guide.cli", "patrol.console.bench", "patrol.tls")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for noisy in ("uvicorn.access", "httpx", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = dict(extra)
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(args.data_dir)
    if getattr(args, "port", None) is not None:
        overrides.setdefault("http", {})["port"] = args.port
    if getattr(args, "host", None):
        overrides.setdefault("http", {})["host"] = args.host
    if getattr(args, "map", None):
        overrides.setdefault("park", {})["map_file"] = str(args.map)
    return load_settings(getattr(args, "config", None), overrides)


def _add_common(p: argparse.ArgumentParser, *, http: bool = True) -> None:
    p.add_argument("--config", type=Path, help="TOML configuration file (default ./parkpatrol.toml)")
    p.add_argument("--data-dir", type=Path, help="data directory (database, broker, snapshots)")
    if http:
        p.add_argument("--port", type=int, help="HTTP port (default 8000)")
        p.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--map", type=Path, help="park GeoJSON (default: the shipped sample park)")


# -- serve ------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from patrol.app import create_app

    settings = _settings_from_args(args)
    _setup_logging(settings.log_level)
    app = create_app(settings)
    if (settings.http.ssl_certfile is None) != (settings.http.ssl_keyfile is None):
        print("parkpatrol: http.ssl_certfile and http.ssl_keyfile go together; set both or neither", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.http.host, port=settings.http.port, log_level=settings.log_level.lower(),
                ws="websockets-sansio",
                ssl_certfile=str(settings.http.ssl_certfile) if settings.http.ssl_certfile else None,
                ssl_keyfile=str(settings.http.ssl_keyfile) if settings.http.ssl_keyfile else None)
    return 0


# -- users ------------------------------------------------------------------------------------------
async def _with_auth(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    from patrol.auth import AuthService
    from patrol.store.db import Store

    store = Store(settings.database_url)
    try:
        await store.migrate()
        secret = settings.auth.secret_key if len(settings.auth.secret_key) >= 32 else "x" * 32
        return await fn(AuthService(store.sessions, secret))
    finally:
        await store.close()


def cmd_user_add(args: argparse.Namespace) -> int:
    from patrol.auth import UserExistsError
    from patrol.roles import Role

    settings = _settings_from_args(args)
    password = os.environ.get("PARKPATROL_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    try:
        user = asyncio.run(_with_auth(settings, lambda a: a.add_user(args.name, password, Role(args.role))))
    except (UserExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"user {user.username} added with role {user.role.value}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    users = asyncio.run(_with_auth(settings, lambda a: a.list_users()))
    for u in users:
        print(f"{u.username}\t{u.role.value}")
    return 0


# -- robots -----------------------------------------------------------------------------------------
async def _with_registry(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    from patrol.fleet.registry import RobotRegistry
    from patrol.store.db import Store

    store = Store(settings.database_url)
    try:
        await store.migrate()
        reg = RobotRegistry(store.sessions)
        await reg.load()
        return await fn(reg)
    finally:
        await store.close()


def cmd_robot_add(args: argparse.Namespace) -> int:
    from patrol.fleet.registry import RobotKind
    from robots.security import hash_password, new_password

    settings = _settings_from_args(args)
    password = new_password()
    try:
        rec = asyncio.run(_with_registry(settings, lambda r: r.add(
            args.manufacturer, args.serial, RobotKind(args.kind), home_charger=args.charger,
            password_hash=hash_password(password))))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"robot {rec.robot_id} ({rec.kind.value}) registered")
    print(f"broker username: {rec.broker_username}")
    print(f"broker password: {password}   (shown once; run `parkpatrol broker-config` to apply)")
    return 0


def cmd_robot_list(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    recs = asyncio.run(_with_registry(settings, lambda r: _async_value(r.all())))
    if args.json:
        print(json.dumps([{"robot_id": r.robot_id, "manufacturer": r.manufacturer, "serial_number": r.serial_number,
                           "kind": r.kind.value, "status": r.status.value, "home_charger": r.home_charger,
                           "broker_username": r.broker_username} for r in recs], indent=2))
    else:
        for r in recs:
            print(f"{r.robot_id}\t{r.manufacturer}\t{r.kind.value}\t{r.status.value}\t{r.home_charger or '-'}")
    return 0


async def _async_value(v: Any) -> Any:
    return v


def cmd_robot_remove(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    ok = asyncio.run(_with_registry(settings, lambda r: r.remove(args.robot_id)))
    if not ok:
        print(f"error: no robot {args.robot_id!r}", file=sys.stderr)
        return 2
    print(f"robot {args.robot_id} removed (run `parkpatrol broker-config` to revoke its broker account)")
    return 0


def cmd_broker_config(args: argparse.Namespace) -> int:
    from patrol.brokerconfig import write_from_registry

    settings = _settings_from_args(args)
    try:
        paths, secrets_out = asyncio.run(write_from_registry(settings, Path(args.out), port=args.listen_port))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"wrote {p}")
    for name, pw in secrets_out.items():
        print(f"new password for {name}: {pw}")
    return 0


# -- demo -------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from patrol.demo import run_demo

    return run_demo(args)


# -- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parkpatrol", description="ParkPatrol: robot dogs, guide robot, sensors "
                                     "and cameras for a business park.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the control service")
    _add_common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="broker + service + simulated park, all in one")
    _add_common(p)
    p.add_argument("--headless", action="store_true", help="no prompt; for scripts")
    p.add_argument("--duration", type=float, help="stop after SECONDS")
    p.add_argument("--robots", type=int, default=4, help="simulated patrol dogs (default 4)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-vision", action="store_true", help="do not run detection on the simulated cameras")
    p.set_defaults(func=cmd_demo)

    user = sub.add_parser("user", help="manage console users").add_subparsers(dest="user_cmd", required=True)
    p = user.add_parser("add", help="add a user (password from $PARKPATROL_NEW_PASSWORD or a prompt)")
    _add_common(p, http=False)
    p.add_argument("name")
    p.add_argument("--role", choices=["viewer", "operator", "supervisor", "admin"], required=True)
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("list", help="list users")
    _add_common(p, http=False)
    p.set_defaults(func=cmd_user_list)

    robot = sub.add_parser("robot", help="manage the robot registry").add_subparsers(dest="robot_cmd", required=True)
    p = robot.add_parser("add", help="register a robot and create its broker account")
    _add_common(p, http=False)
    p.add_argument("serial", help="VDA 5050 serialNumber (the robot id)")
    p.add_argument("--manufacturer", required=True)
    p.add_argument("--kind", choices=["patrol_dog", "guide"], default="patrol_dog")
    p.add_argument("--charger", help="home charger id")
    p.set_defaults(func=cmd_robot_add)
    p = robot.add_parser("list", help="list registered robots")
    _add_common(p, http=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_robot_list)
    p = robot.add_parser("remove", help="remove a robot")
    _add_common(p, http=False)
    p.add_argument("robot_id")
    p.set_defaults(func=cmd_robot_remove)

    p = sub.add_parser("broker-config", help="write Mosquitto config, hashed passwords and ACLs from the registry")
    _add_common(p, http=False)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--listen-port", type=int, default=1883)
    p.set_defaults(func=cmd_broker_config)

    bench = sub.add_parser("bench", help="benchmarks (ratios against a baseline in the same run)")
    bench_sub = bench.add_subparsers(dest="bench_cmd", required=True, metavar="BENCH")
    bench_ingest = bench_sub.add_parser("ingest", help="service MQTT ingest vs a bare paho subscriber")
    bench_ingest.add_argument("--json", action="store_true")
    bench_ingest.add_argument("--seconds", type=float, default=4.0, help="seconds per rate step")
    bench_ingest.add_argument("--load-processes", type=int, default=1,
                              help="load generator processes sharing each step's rate")
    bench_ingest.set_defaults(func=_lazy("patrol.bench_ingest", "cmd_bench_ingest"))

    for module in COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue
            raise
        if hasattr(mod, "add_commands"):
            mod.add_commands(sub)
        if hasattr(mod, "add_bench_commands"):
            mod.add_bench_commands(bench_sub)
    return parser


def _lazy(module: str, attr: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        fn: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), attr)
        return fn(args)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except ConfigError as e:
        print(f"parkpatrol: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
