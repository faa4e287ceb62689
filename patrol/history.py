"""History for the console's playback: robot tracks, alarms, sensor trips and live events.

The recorder is one more client of the live hub: it reads the same coalesced deltas the console
receives, so it records exactly what staff saw, whichever subsystem produced it. Robot positions are
thinned (one point per robot per `robot_every_s`, unless its state changed); alarm and incident
changes, sensor trips and events are kept as they come. Rows are written in batches and pruned after
`retention_s`.

`router` serves playback queries (viewer role and up); `history_subsystem()` is the `Subsystem` the
service wires into its lifespan.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import JSON, Float, Index, Integer, String, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from patrol.api.deps import ViewerUser, field_error, state_item
from patrol.live import LiveClient, LiveHub
from patrol.store.base import Base

if TYPE_CHECKING:
    from patrol.app import Loop, Subsystem
    from patrol.runtime import Runtime

log = logging.getLogger(__name__)

KINDS = ("robot", "alarm", "incident", "sensor", "event")
# sensor fields (Zigbee2MQTT names and our own) that mean "tripped" when true (contact: when false)
TRIP_TRUE = ("tripped", "occupancy", "smoke", "water_leak", "vibration", "tamper", "alarm")
TRIP_STATES = frozenset({"tripped", "alarm", "open", "active", "triggered"})


class HistoryRow(Base):
    """One recorded change: `kind` is robot / alarm / incident / sensor / event, `key` its id."""

    __tablename__ = "console_history"
    __table_args__ = (Index("ix_console_history_at_kind", "at", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


HISTORY_TABLE = Base.metadata.tables["console_history"]


def sensor_tripped(value: dict[str, Any]) -> bool:
    """Whether a sensor's live value reports a trip (open door, motion, smoke, water, tamper...)."""
    if any(value.get(k) is True for k in TRIP_TRUE):
        return True
    if value.get("contact") is False:
        return True
    state = value.get("state")
    return isinstance(state, str) and state.lower() in TRIP_STATES


@dataclass
class HistoryRecorder:
    """Turns live messages into history rows; `take()` hands the pending batch to the writer."""

    to_wgs84: Callable[[float, float], tuple[float, float]] | None = None  # places items given in metres
    robot_every_s: float = 1.0
    robot_min_move_deg: float = 2e-6  # about 0.2 m
    max_pending: int = 50_000
    dropped: int = 0
    _last_robot: dict[str, tuple[float, float | None, float | None, tuple[Any, ...]]] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    def _add(self, at: float, kind: str, key: str, lat: Any, lon: Any, data: dict[str, Any]) -> None:
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return
        if (lat is None or lon is None) and self.to_wgs84 is not None:
            x, y = _num(data.get("x")), _num(data.get("y"))
            if x is not None and y is not None:
                lat, lon = self.to_wgs84(x, y)
        self._pending.append({"at": at, "kind": kind, "key": str(key)[:128], "lat": _num(lat), "lon": _num(lon),
                              "data": data})

    def robot(self, at: float, robot: dict[str, Any]) -> None:
        rid = str(robot.get("robot_id", ""))
        if not rid:
            return
        lat, lon = _num(robot.get("lat")), _num(robot.get("lon"))
        status_key = (robot.get("online"), robot.get("paused"), robot.get("e_stop"), robot.get("order_id"),
                      robot.get("charging"))
        last = self._last_robot.get(rid)
        if last is not None:
            t0, lat0, lon0, key0 = last
            moved = (lat is not None and lon is not None and lat0 is not None and lon0 is not None
                     and abs(lat - lat0) + abs(lon - lon0) > self.robot_min_move_deg)
            if key0 == status_key and (at - t0 < self.robot_every_s or not moved):
                return
        self._last_robot[rid] = (at, lat, lon, status_key)
        data = {k: robot.get(k) for k in ("theta", "battery", "online", "paused", "e_stop", "order_id", "driving")}
        self._add(at, "robot", rid, lat, lon, data)

    def message(self, msg: dict[str, Any]) -> None:
        """Record one live message (a snapshot seeds robot positions; a delta records changes)."""
        at = _num(msg.get("t")) or time.time()
        if msg.get("type") == "snapshot":
            for r in msg.get("robots") or []:
                if isinstance(r, dict):
                    self.robot(at, r)
            return
        changes = msg.get("changes")
        if isinstance(changes, dict):
            for rid, r in (changes.get("robots") or {}).items():
                if isinstance(r, dict):
                    self.robot(at, r)
                elif r is None:
                    self._last_robot.pop(str(rid), None)
            for kind, name in (("alarms", "alarm"), ("incidents", "incident")):
                for key, v in (changes.get(kind) or {}).items():
                    if isinstance(v, dict):
                        self._add(at, name, key, v.get("lat"), v.get("lon"), v)
            for key, v in (changes.get("sensors") or {}).items():
                if isinstance(v, dict) and sensor_tripped(v):
                    self._add(at, "sensor", key, v.get("lat"), v.get("lon"), v)
        for ev in msg.get("events") or []:
            if isinstance(ev, dict):
                self._add(at, "event", str(ev.get("type", "event")), ev.get("lat"), ev.get("lon"), ev)

    def take(self) -> list[dict[str, Any]]:
        rows, self._pending = self._pending, []
        return rows


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if f == f and abs(f) != float("inf") else None


@dataclass
class HistoryService:
    """Owns the recorder's live-hub client and writes batches to the store."""

    runtime: Runtime
    recorder: HistoryRecorder = field(default_factory=HistoryRecorder)
    retention_s: float = 6 * 3600.0
    flush_every_s: float = 1.0
    rows_written: int = 0
    bad_messages: int = 0

    async def create_table(self) -> None:
        async with self.runtime.store.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=[HISTORY_TABLE], checkfirst=True))

    async def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        async with self.runtime.store.sessions() as s, s.begin():
            await s.execute(insert(HistoryRow), rows)
        self.rows_written += len(rows)

    async def prune(self, now: float) -> None:
        async with self.runtime.store.sessions() as s, s.begin():
            await s.execute(delete(HistoryRow).where(HistoryRow.at < now - self.retention_s))

    def _consume(self, client: LiveClient) -> bool:
        """Drain the client's queue into the recorder; False when the hub dropped the client."""
        while not client.queue.empty():
            raw = client.queue.get_nowait()
            if not raw:
                return False
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.bad_messages += 1
                continue
            if isinstance(msg, dict):
                self.recorder.message(msg)
        return True

    async def run(self) -> None:
        hub: LiveHub = self.runtime.live
        client, snapshot = hub.connect()
        self.recorder.message(orjson.loads(snapshot))
        last_prune = 0.0
        try:
            while True:
                await self.runtime.clock.sleep(self.flush_every_s)
                if not self._consume(client):
                    log.warning("history recorder fell behind the live hub; resubscribing")
                    hub.disconnect(client)
                    client, snapshot = hub.connect()
                    self.recorder.message(orjson.loads(snapshot))
                writes = self.runtime.store.writes
                try:
                    rows = self.recorder.take()
                    if rows:  # kept by the store's write buffer while the database is away
                        await writes.submit(f"history batch of {len(rows)} rows", functools.partial(self.write, rows))
                    now = self.runtime.clock.now()
                    if now - last_prune > 300 and not writes.degraded:
                        await self.prune(now)
                        last_prune = now
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("history write failed; the batch is lost, recording goes on")
        finally:
            hub.disconnect(client)

    async def query(self, since: float, until: float, kinds: Iterable[str], limit: int) -> list[HistoryRow]:
        async with self.runtime.store.sessions() as s:
            q = (select(HistoryRow).where(HistoryRow.at >= since, HistoryRow.at <= until,
                                          HistoryRow.kind.in_(list(kinds)))
                 .order_by(HistoryRow.at, HistoryRow.id).limit(limit))
            return list((await s.execute(q)).scalars())


def history_subsystem(retention_s: float = 6 * 3600.0) -> Subsystem:
    """The `Subsystem` that records history while the service runs."""
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        svc = HistoryService(rt, HistoryRecorder(to_wgs84=rt.park.to_wgs84), retention_s=retention_s)
        await svc.create_table()
        rt.extras["history"] = svc
        return [svc.run]

    return Subsystem("history", setup)


# -- playback API ---------------------------------------------------------------------------------
router = APIRouter(prefix="/api/history", tags=["history"])


def get_history(request: Request) -> HistoryService:
    svc: HistoryService = state_item(request, "history", HistoryService)
    return svc


HistoryDep = Annotated[HistoryService, Depends(get_history)]


class Playback(BaseModel):
    since: float
    until: float
    tracks: dict[str, list[list[Any]]]  # robot id -> [[t, lat, lon, theta, state]...]
    items: list[dict[str, Any]]  # alarms, incidents, sensor trips, events: {t, kind, key, lat, lon, data}
    truncated: bool


@router.get("", response_model=Playback, summary="Recorded tracks, alarms, sensor trips and events for playback")
async def playback(svc: HistoryDep, user: ViewerUser,
                   since: Annotated[float | None, Query(description="epoch seconds; default: 1 hour ago")] = None,
                   until: Annotated[float | None, Query(description="epoch seconds; default: now")] = None,
                   kinds: Annotated[str, Query(description="comma-separated subset of " + ",".join(KINDS))]
                   = ",".join(KINDS),
                   limit: Annotated[int, Query(ge=1, le=200_000)] = 50_000) -> Playback:
    now = svc.runtime.clock.now()
    t1 = until if until is not None else now
    t0 = since if since is not None else t1 - 3600.0
    wanted = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = sorted(set(wanted) - set(KINDS))
    if unknown or t0 > t1:
        if unknown:
            raise field_error("query", "kinds", f"unknown {unknown}; use {','.join(KINDS)}")
        raise field_error("query", "since", f"since ({t0}) is after until ({t1})")
    rows = await svc.query(t0, t1, wanted, limit + 1)
    truncated = len(rows) > limit
    tracks: dict[str, list[list[Any]]] = {}
    items: list[dict[str, Any]] = []
    for row in rows[:limit]:
        if row.kind == "robot":
            d = row.data or {}
            state = "estop" if d.get("e_stop") not in (None, "NONE") else "paused" if d.get("paused") else (
                "online" if d.get("online") else "offline")
            tracks.setdefault(row.key, []).append([row.at, row.lat, row.lon, d.get("theta"), state])
        else:
            items.append({"t": row.at, "kind": row.kind, "key": row.key, "lat": row.lat, "lon": row.lon,
                          "data": row.data})
    return Playback(since=t0, until=t1, tracks=tracks, items=items, truncated=truncated)
