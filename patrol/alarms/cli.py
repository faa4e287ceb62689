"""``parkpatrol audit ...``, ``parkpatrol alarms ...`` and ``parkpatrol bench alarms-ingest``."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from patrol.alarms.model import SYSTEM, AlarmType, ArmingMode
from patrol.alarms.service import AlarmFilter, AlarmService
from patrol.audit import AuditLog
from patrol.store.db import Store
from robots.clock import SimClock, WallClock


def _database_url(args: argparse.Namespace) -> str:
    from patrol.config import load_settings

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(args.data_dir)
    return load_settings(getattr(args, "config", None), overrides).database_url


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML configuration file (default ./parkpatrol.toml)")
    p.add_argument("--data-dir", type=Path, help="data directory holding the database")


async def _audit_verify(url: str) -> int | None:
    store = Store(url)
    try:
        return await AuditLog(store.sessions, WallClock()).verify()
    finally:
        await store.close()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    bad = asyncio.run(_audit_verify(_database_url(args)))
    if bad is None:
        print("audit log: hash chain intact")
        return 0
    print(f"audit log: entry {bad} does not match the hash chain (the log was altered at or before it)")
    return 1


async def _audit_show(url: str, limit: int, actor: str | None) -> list[dict[str, Any]]:
    store = Store(url)
    try:
        entries = await AuditLog(store.sessions, WallClock()).entries(actor=actor, limit=limit)
    finally:
        await store.close()
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action,
             "target": e.target, "detail": dict(e.detail), "remote": e.remote} for e in entries]


def cmd_audit_show(args: argparse.Namespace) -> int:
    for entry in reversed(asyncio.run(_audit_show(_database_url(args), args.limit, args.actor))):
        print(json.dumps(entry, ensure_ascii=False))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the append-only audit log")
    audit_sub = audit.add_subparsers(dest="audit_cmd", required=True, metavar="CMD")
    verify = audit_sub.add_parser("verify", help="check the audit log's hash chain")
    _common(verify)
    verify.set_defaults(func=cmd_audit_verify)
    show = audit_sub.add_parser("show", help="print the newest audit entries as JSON lines")
    _common(show)
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--actor", help="only this user's actions")
    show.set_defaults(func=cmd_audit_show)


# -- benchmark ------------------------------------------------------------------------------------

async def _bench(messages: int) -> dict[str, float]:
    import maps
    import patrol.sensors.tables  # noqa: F401  (tables on Base.metadata)
    from patrol.sensors.policy import SensorPolicy
    from patrol.sensors.service import SensorService
    from patrol.store.base import Base

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite+aiosqlite:///{tmp}/bench.db")
        async with store.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        park = maps.load_park(maps.test_park_path())
        door = next((s for s in park.sensors.values() if s.kind == "door" and s.zone), None)
        if door is None or door.zone is None:
            raise SystemExit("the test park has no door sensor in a zone")
        clock = SimClock(1_772_463_600.0)  # a Monday, 23:00 in Asia/Shanghai: zones armed
        audit = AuditLog(store.sessions, clock)
        alarms = AlarmService(store.sessions, clock, park, None, None, audit)
        sensors = SensorService(store.sessions, clock, alarms, audit, SensorPolicy(debounce_s={}))
        await sensors.load()
        # simulated time runs on for hours: keep the door's zone armed throughout
        await alarms.arming.set_mode(door.zone, ArmingMode.ARMED, SYSTEM)
        cases = {
            "readings": [orjson.dumps({"temperature": 20 + i % 5, "humidity": 40, "linkquality": 90})
                         for i in range(messages)],
            "malformed": [b"{broken" for _ in range(messages)],
            "trips": [orjson.dumps({"contact": i % 2 == 0}) for i in range(messages // 10)],
        }
        rates: dict[str, float] = {}
        try:
            for name, payloads in cases.items():
                topic = f"zigbee2mqtt/{door.id}"
                start = time.perf_counter()
                for payload in payloads:
                    await sensors.handle_message(topic, payload)
                    clock._now += 1.0  # no sleepers: moving simulated time needs no wake-ups
                rates[name] = len(payloads) / (time.perf_counter() - start)
            active = await alarms.list_alarms(AlarmFilter(active=True, type=AlarmType.INTRUSION))
            rates["intrusion_alarms"] = float(len(active))
            rates["trip_count"] = float(active[0].count if active else 0)
        finally:
            await store.close()
    return rates


def cmd_bench_alarms_ingest(args: argparse.Namespace) -> int:
    rates = asyncio.run(_bench(args.messages))
    if args.json:
        print(json.dumps(rates))
        return 0
    base = rates["readings"]
    print(f"sensor ingest, one process, SQLite ({args.messages} messages per case):")
    for name in ("readings", "malformed", "trips"):
        print(f"  {name:<10} {rates[name]:>10.0f} msg/s   x{rates[name] / base:.3f} of readings")
    print(f"  trips folded into {rates['intrusion_alarms']:.0f} active alarm(s), count {rates['trip_count']:.0f}")
    return 0


def add_bench_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("alarms-ingest", help="sensor ingest rate: readings vs malformed vs alarm trips")
    bench.add_argument("--messages", type=int, default=20_000)
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench_alarms_ingest)
