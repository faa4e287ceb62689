"""The database briefly unavailable: sensor trips that arrive meanwhile are buffered and retried, and
once the store is back every trip is one stored alarm (exactly once), the audit chain holds, and the
service kept running. SQLite: another connection holds `BEGIN EXCLUSIVE`. PostgreSQL: the service
reaches the server through a TCP relay that is cut (connections reset, new ones refused).

Trips are smoke / water-leak / tamper conditions, each followed by its clear, so one sensor tripped
R times makes R alarms; the clears must land after their trips or the count is wrong (order holds).
One person detection per camera (vision events) rides along: one vision alarm per camera.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from patrol import topics
from patrol.alarms.model import AlarmType
from patrol.alarms.service import AlarmFilter, AlarmService
from patrol.audit import AuditLog
from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from tests.conftest import POSTGRES_ADMIN_URL, need
from tests.reliability.helpers import close_client, paho_client
from tests.reliability.links import SilentLink
from tests.support import Service, running_service, service_settings

pytestmark = pytest.mark.reliability
# no tamper: its 5 s debounce would fold quick re-trips; smoke and water leaks are not debounced
CONDITION_FIELD = {"smoke": "smoke", "water": "water_leak"}


def _condition_sensors(svc: Service) -> dict[str, str]:
    """sensor id -> the Zigbee2MQTT field that trips it, for every condition sensor on the sample map."""
    found = {s.id: CONDITION_FIELD[s.kind] for s in svc.runtime.park.sensors.values() if s.kind in CONDITION_FIELD}
    assert len(found) >= 5, found
    return found


async def _until(pred: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


def _vision_event(camera: str) -> bytes:
    """A new Frigate-style person detection on `camera` (placed at the camera: no map position)."""
    after = {"id": f"{time.time():.3f}-{secrets.token_hex(4)}", "camera": camera, "label": "person",
             "score": 0.88, "top_score": 0.9, "zones": [], "box": [10, 20, 80, 200], "start_time": time.time(),
             "end_time": None, "has_snapshot": False}
    return orjson.dumps({"type": "new", "before": after, "after": after})


def _inject(svc: Service, broker: BrokerEndpoint, sensors: dict[str, str], rounds: int,
            clear_last: bool = False, cameras: tuple[str, ...] = ()) -> int:
    """Publish `rounds` trip + clear pairs per sensor at QoS 1 (the last round stays tripped unless
    `clear_last`), then one person detection per camera; how many trips."""
    pub = paho_client(broker, f"outage-z2m-{secrets.token_hex(3)}")
    try:
        infos = []
        for r in range(rounds):
            for sid, name in sensors.items():
                infos.append(pub.publish(f"zigbee2mqtt/{sid}", orjson.dumps({name: True, "battery": 90}), qos=1))
                if r < rounds - 1 or clear_last:
                    infos.append(pub.publish(f"zigbee2mqtt/{sid}", orjson.dumps({name: False, "battery": 90}),
                                             qos=1))
        for camera in cameras:
            infos.append(pub.publish(topics.VISION_EVENTS, _vision_event(camera), qos=1))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        close_client(pub)
    return rounds * len(sensors)


async def _baseline(svc: Service, broker: BrokerEndpoint, sensors: dict[str, str], rounds: int) -> dict[str, Any]:
    """The same trips with the store up (all cleared again): messages per second for comparison."""
    ingest = svc.runtime.extras["sensors"].counters
    before, messages = ingest.messages, 2 * rounds * len(sensors)
    started = time.monotonic()
    await asyncio.to_thread(_inject, svc, broker, sensors, rounds, True)
    await _until(lambda: ingest.messages - before >= messages and svc.runtime.store.writes.pending == 0, 120,
                 "baseline ingest did not finish")
    took = time.monotonic() - started
    return {"baseline_messages": messages, "baseline_s": round(took, 2),
            "baseline_msg_per_s": round(messages / took, 1)}


async def _assert_all_stored_once(svc: Service, sensors: dict[str, str], rounds: int,
                                  earlier: int = 0, cameras: tuple[str, ...] = ()) -> dict[str, Any]:
    alarms: AlarmService = svc.runtime.extras["alarms"]
    audit: AuditLog = svc.runtime.extras["audit"]
    rows = await alarms.list_alarms(AlarmFilter(source_prefix="sensor:", limit=1000))
    per_source: dict[str, list[bool]] = {}
    for a in rows:
        per_source.setdefault(a.source, []).append(a.active)
    expected = {f"sensor:{sid}" for sid in sensors}
    assert set(per_source) == expected, f"alarms for {set(per_source) ^ expected} lost or unexpected"
    for source, actives in per_source.items():
        assert len(actives) == rounds + earlier, f"{source}: {len(actives)} alarms for {rounds + earlier} trips"
        assert actives.count(True) == 1, f"{source}: {actives.count(True)} active, expected the last trip only"
    vision = await alarms.list_alarms(AlarmFilter(type=AlarmType.VISION, limit=1000))
    assert sorted(a.source for a in vision) == sorted(f"camera:{c}" for c in cameras), vision
    assert all(a.active and a.count == 1 for a in vision), vision
    raised = await audit.entries(action="alarm.raised", limit=1000)
    want = (rounds + earlier) * len(sensors) + len(cameras)
    assert len(raised) == want, f"{len(raised)} audit entries for {want} alarms"
    assert await audit.verify() is None, "the audit hash chain broke"
    return {"alarms": len(rows), "vision_alarms": len(vision), "audit_raised": len(raised)}


async def _outage_run(svc: Service, broker: BrokerEndpoint, outage: Callable[[], Any],
                      restore: Callable[[], Any], outage_s: float, rounds: int,
                      baseline_rounds: int = 0) -> dict[str, Any]:
    rt = svc.runtime
    assert await rt.bus.wait_connected(10)
    viewer = await svc.login_as(Role.VIEWER)
    sensors = _condition_sensors(svc)
    writes = rt.store.writes
    ingest = rt.extras["sensors"].counters
    baseline = await _baseline(svc, broker, sensors, baseline_rounds) if baseline_rounds else {}
    before = ingest.messages
    await outage()
    started = time.monotonic()
    try:
        cameras = tuple(rt.park.cameras)
        injected = await asyncio.to_thread(_inject, svc, broker, sensors, rounds, False, cameras)
        messages = injected + (rounds - 1) * len(sensors) + len(cameras)
        await _until(lambda: writes.pending > 0, outage_s + 10, "no write was buffered during the outage")
        health = (await svc.client.get("/api/health")).json()
        assert health["status"] == "degraded", health
        assert not health["components"]["database"]["ok"], health
        left = outage_s - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)
        pending_at_restore = writes.pending
    finally:
        await restore()
    restored, restored_wall = time.monotonic(), time.time()
    await _until(lambda: ingest.messages - before >= messages and writes.pending == 0, 60,
                 "buffered writes were not written after the store came back")
    drained_s = time.monotonic() - restored
    stored = await _assert_all_stored_once(svc, sensors, rounds, baseline_rounds, cameras)
    late = [a for a in await rt.extras["alarms"].list_alarms(AlarmFilter(limit=1000))
            if a.first_at.timestamp() > restored_wall]
    assert not late, f"alarms stamped with the time they were stored, not observed: {late[:3]}"
    assert ingest.errors == 0, ingest
    health = (await svc.client.get("/api/health")).json()
    assert health["components"]["database"]["ok"], health
    metrics = (await svc.client.get("/api/metrics", headers=viewer)).json()["store"]
    assert metrics["dropped"] == 0 and metrics["failed"] == 0 and metrics["pending"] == 0, metrics
    assert metrics["buffered"] > 0 and metrics["outages"] >= 1, metrics
    late = metrics["written_late"]
    if baseline and drained_s > 0:  # messages per second while draining against the same trips with the store up
        baseline["drain_vs_baseline"] = round(messages / drained_s / baseline["baseline_msg_per_s"], 2)
    return {**baseline, "drain_writes_per_s": round(late / drained_s, 1) if drained_s > 0 else None,
            "messages": messages, "trips": injected, "pending_at_restore": pending_at_restore,
            "drained_s": round(drained_s, 2), "outage_s": round(restored - started, 2), **stored,
            "retries": metrics["retries"], "buffered": metrics["buffered"], "written_late": metrics["written_late"]}


@asynccontextmanager
async def _sqlite_service(tmp_path: Path, broker: BrokerEndpoint) -> AsyncIterator[tuple[Service, Path]]:
    db = tmp_path / "outage.db"
    settings = service_settings(tmp_path / "svc", broker, f"sqlite+aiosqlite:///{db}")
    async with running_service(settings) as svc:
        yield svc, db


@pytest.mark.skipif(os.environ.get("PARKPATROL_TEST_DB") == "postgresql",
                    reason="SQLite locking; runs in the SQLite pass")
async def test_sqlite_locked_by_another_writer_loses_no_alarm(tmp_path: Path,
                                                              private_broker: BrokerEndpoint) -> None:
    broker = private_broker
    async with _sqlite_service(tmp_path, broker) as (svc, db):
        holder = sqlite3.connect(db, timeout=0, isolation_level=None, check_same_thread=False)

        async def lock() -> None:
            for _ in range(100):  # the service may be writing right now
                try:
                    holder.execute("BEGIN EXCLUSIVE")
                    return
                except sqlite3.OperationalError:
                    await asyncio.sleep(0.05)
            raise AssertionError("could not take the exclusive lock")

        async def unlock() -> None:
            holder.execute("COMMIT")
            holder.close()

        figures = await _outage_run(svc, broker, lock, unlock, outage_s=7.0, rounds=3)
    print(f"\nSQLite held by BEGIN EXCLUSIVE for {figures['outage_s']} s: {figures}; lost 0")


def _pg_reachable() -> bool:
    import socket
    from urllib.parse import urlparse

    u = urlparse(POSTGRES_ADMIN_URL)
    try:
        socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), 2).close()
    except OSError:
        return False
    return True


@asynccontextmanager
async def _pg_database() -> AsyncIterator[tuple[str, str, int]]:
    """A fresh PostgreSQL database: (its name, server host, server port)."""
    from urllib.parse import urlparse

    import asyncpg

    name = f"pp_outage_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    u = urlparse(POSTGRES_ADMIN_URL)
    try:
        yield name, u.hostname or "127.0.0.1", u.port or 5432
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _pg_outage(tmp_path: Path, broker: BrokerEndpoint, outage_s: float, rounds: int,
                     baseline_rounds: int = 0) -> dict[str, Any]:
    from urllib.parse import urlparse

    expected = os.environ.get("PARKPATROL_TEST_DB") == "postgresql"
    if not _pg_reachable():
        if expected:
            need(False, f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable")
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable")
    auth = urlparse(POSTGRES_ADMIN_URL).netloc.rsplit("@", 1)[0]
    async with _pg_database() as (name, host, port), SilentLink(host, port) as link:
        url = f"postgresql+asyncpg://{auth}@127.0.0.1:{link.port}/{name}"
        settings = service_settings(tmp_path / "svc", broker, url)
        async with running_service(settings) as svc:
            admin = await svc.login_as(Role.ADMIN)

            async def cut() -> None:
                link.cut()
                r = await svc.client.get("/api/alarms", headers=admin)
                assert r.status_code == 503, (r.status_code, r.text)
                assert "database is unavailable" in r.json()["detail"], r.text
                assert r.headers["retry-after"] == "5"

            async def restore() -> None:
                link.restore()

            return await _outage_run(svc, broker, cut, restore, outage_s=outage_s, rounds=rounds,
                                     baseline_rounds=baseline_rounds)


async def test_postgresql_link_cut_loses_no_alarm(tmp_path: Path, private_broker: BrokerEndpoint) -> None:
    figures = await _pg_outage(tmp_path, private_broker, outage_s=4.0, rounds=3)
    print(f"\nPostgreSQL link cut for {figures['outage_s']} s: {figures}; lost 0")


@pytest.mark.slow
async def test_postgresql_link_cut_long(tmp_path: Path, private_broker: BrokerEndpoint) -> None:
    figures = await _pg_outage(tmp_path, private_broker, outage_s=30.0, rounds=40, baseline_rounds=20)
    print(f"\nPostgreSQL link cut for {figures['outage_s']} s: {figures}; lost 0")
