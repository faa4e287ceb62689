"""History for playback: thinning of robot tracks, sensor trips, and the playback API on the real service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from patrol.broker import BrokerEndpoint
from patrol.history import HistoryRecorder, HistoryService, sensor_tripped
from patrol.roles import Role
from tests.console.wiring import console_subsystems
from tests.support import running_service, service_settings


def robot(rid: str, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    return {"robot_id": rid, "lat": lat, "lon": lon, "theta": 0.0, "online": True, "paused": False,
            "e_stop": "NONE", "order_id": "", "charging": False, **kw}


def test_robot_tracks_are_thinned_but_state_changes_kept() -> None:
    rec = HistoryRecorder(robot_every_s=1.0)
    rec.robot(0.0, robot("r1", 29.58, 105.06))
    rec.robot(0.5, robot("r1", 29.5801, 105.06))  # too soon
    rec.robot(1.5, robot("r1", 29.58, 105.06))  # not moved since the last kept point
    rec.robot(1.6, robot("r1", 29.58, 105.06, paused=True))  # state change: kept at once
    rec.robot(3.0, robot("r1", 29.581, 105.06, paused=True))  # moved, a second later
    rec.robot(3.1, {"robot_id": "", "lat": 1})  # no id: ignored
    rows = rec.take()
    assert [r["at"] for r in rows] == [0.0, 1.6, 3.0]
    assert rows[1]["data"]["paused"] is True
    assert rec.take() == []


def test_deltas_record_alarms_sensor_trips_and_events_and_survive_junk() -> None:
    rec = HistoryRecorder()
    rec.message({"type": "delta", "t": 10.0, "changes": {
        "robots": {"r1": robot("r1", 29.58, 105.06), "gone": None, "bad": 7},
        "alarms": {"3": {"id": 3, "severity": "CRITICAL", "lat": 29.5, "lon": 105.0}, "4": "junk"},
        "sensors": {"door1": {"contact": False}, "door2": {"contact": True}, "pir": {"occupancy": True},
                    "smoke": {"smoke": False, "battery": 90}, "x": None},
    }, "events": [{"type": "detection", "label": "person", "lat": float("nan")}, "junk"]})
    rows = rec.take()
    kinds = sorted((r["kind"], r["key"]) for r in rows)
    assert kinds == [("alarm", "3"), ("event", "detection"), ("robot", "r1"), ("sensor", "door1"), ("sensor", "pir")]
    event = next(r for r in rows if r["kind"] == "event")
    assert event["lat"] is None  # NaN never reaches the database
    rec.message({"type": "delta", "changes": "not a dict", "events": None})
    assert rec.take() == []


def test_items_given_in_metres_are_placed_on_the_map() -> None:
    rec = HistoryRecorder(to_wgs84=lambda x, y: (29.0 + y / 1e5, 105.0 + x / 1e5))
    rec.message({"type": "delta", "t": 1.0, "changes": {"alarms": {"1": {"id": 1, "x": 100.0, "y": 200.0}}}})
    (row,) = rec.take()
    assert (row["lat"], row["lon"]) == (29.002, 105.001)


def test_sensor_trip_rules() -> None:
    assert sensor_tripped({"state": "TRIPPED"})
    assert sensor_tripped({"water_leak": True})
    assert not sensor_tripped({"occupancy": False, "contact": True, "state": "ok"})
    assert not sensor_tripped({"occupancy": 1})  # only a real boolean counts


def test_pending_rows_are_bounded() -> None:
    rec = HistoryRecorder(max_pending=2)
    for i in range(5):
        rec.message({"type": "delta", "t": float(i), "events": [{"type": "detection"}]})
    assert len(rec.take()) == 2 and rec.dropped == 3


async def test_playback_api_returns_what_the_live_hub_carried(tmp_path: Path, broker: BrokerEndpoint,
                                                              database_url: str) -> None:
    settings = service_settings(tmp_path, broker, database_url, vision={"enabled": False})
    async with running_service(settings, subsystems=console_subsystems()) as svc:
        rt = svc.runtime
        history: HistoryService = rt.extras["history"]
        now = rt.clock.now()
        for _ in range(100):  # the recorder subscribes once the service's tasks run
            if rt.live.clients:
                break
            await asyncio.sleep(0.05)
        rt.live.mark("sensors", "door_office_a1_main", {"contact": False, "lat": 29.58, "lon": 105.057})
        rt.live.event({"type": "detection", "label": "person", "lat": 29.579, "lon": 105.058})
        for _ in range(100):
            if history.rows_written >= 2:
                break
            await asyncio.sleep(0.05)
        assert history.rows_written >= 2
        viewer = await svc.login_as(Role.VIEWER)
        r = await svc.client.get("/api/history", params={"since": now - 60}, headers=viewer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {(i["kind"], i["key"]) for i in body["items"]} >= {("sensor", "door_office_a1_main"),
                                                                  ("event", "detection")}
        assert body["truncated"] is False
        bad = await svc.client.get("/api/history", params={"kinds": "robot,nope"}, headers=viewer)
        assert bad.status_code == 422 and "nope" in bad.text
        backwards = await svc.client.get("/api/history", params={"since": now, "until": now - 10}, headers=viewer)
        assert backwards.status_code == 422
        svc.client.cookies.clear()  # login_as also left a session cookie
        assert (await svc.client.get("/api/history")).status_code == 401
