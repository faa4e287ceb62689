"""REST routes through httpx's ASGI transport with the real AuthService: roles, errors, audit."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from patrol.alarms.api import make_router
from patrol.alarms.model import AlarmSignal, AlarmType
from patrol.auth import AuthService
from patrol.roles import Role
from tests.alarms.harness import OFFICE_POINT, Harness


class StateInjector:
    """Gives each request the services, as the service's lifespan state would."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "state": dict(self.state)}
        await self.app(scope, receive, send)


@dataclass
class Api:
    client: httpx.AsyncClient
    tokens: dict[Role, str]

    def as_(self, role: Role) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    auth = AuthService(harness.store.sessions, secrets.token_hex(32))
    tokens = {}
    for role in (Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR):
        user = await auth.add_user(f"{role.value}1", "correct horse battery", role)
        tokens[role] = await auth.issue_token(user)
    app = FastAPI()
    app.include_router(make_router())
    state = {"auth": auth, "alarms": harness.alarms, "sensors": harness.sensors, "audit": harness.audit}
    transport = httpx.ASGITransport(app=StateInjector(app, state), client=("192.0.2.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://park") as client:
        yield Api(client, tokens)


async def raise_door(harness: Harness) -> int:
    await harness.sensors.handle_message("zigbee2mqtt/door_tp_lab", orjson.dumps({"contact": False}))
    alarms = await harness.alarms.list_alarms()
    return alarms[0].id


async def test_viewer_reads_but_cannot_act(api: Api, harness: Harness) -> None:
    alarm_id = await raise_door(harness)
    viewer = api.as_(Role.VIEWER)
    listed = await api.client.get("/api/alarms", params={"active": "true", "type": "intrusion"}, headers=viewer)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [alarm_id]
    detail = await api.client.get(f"/api/alarms/{alarm_id}", headers=viewer)
    assert detail.json()["timeline"][0]["kind"] == "raised"
    assert (await api.client.post(f"/api/alarms/{alarm_id}/ack", headers=viewer)).status_code == 403
    assert (await api.client.get("/api/audit", headers=viewer)).status_code == 403
    assert (await api.client.get("/api/alarms")).status_code == 401


async def test_operator_acks_assigns_comments_clears(api: Api, harness: Harness) -> None:
    alarm_id = await raise_door(harness)
    op = api.as_(Role.OPERATOR)
    acked = await api.client.post(f"/api/alarms/{alarm_id}/ack", headers=op)
    assert acked.status_code == 200 and acked.json()["status"] == "ACTIVE_ACK"
    again = await api.client.post(f"/api/alarms/{alarm_id}/ack", headers=op)
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
    r = await api.client.post(f"/api/alarms/{alarm_id}/assign", json={"assignee": "guard-2"}, headers=op)
    assert r.json()["assignee"] == "guard-2"
    bad = await api.client.post(f"/api/alarms/{alarm_id}/comment", json={"txt": "x"}, headers=op)
    assert bad.status_code == 422 and "text" in str(bad.json()["detail"])
    await api.client.post(f"/api/alarms/{alarm_id}/comment", json={"text": "on my way"}, headers=op)
    cleared = await api.client.post(f"/api/alarms/{alarm_id}/clear", json={"note": "checked"}, headers=op)
    assert cleared.json()["status"] == "CLEARED_ACK"
    by_status = await api.client.get("/api/alarms", params={"status": "CLEARED_ACK"}, headers=op)
    assert [a["id"] for a in by_status.json()] == [alarm_id]
    contradiction = await api.client.get("/api/alarms", params={"status": "CLEARED_ACK", "active": "true"},
                                         headers=op)
    assert contradiction.status_code == 422 and contradiction.json()["detail"][0]["loc"] == ["query", "status"]
    missing = await api.client.post("/api/alarms/999/ack", headers=op)
    assert missing.status_code == 404 and "999" in missing.json()["detail"]
    incidents = (await api.client.get("/api/incidents", headers=op)).json()
    incident = (await api.client.get(f"/api/incidents/{incidents[0]['id']}", headers=op)).json()
    kinds = [e["kind"] for e in incident["timeline"]]
    expected = {"sensor_trip", "operator_ack", "operator_assign", "operator_comment", "alarm_cleared", "closed"}
    assert expected <= set(kinds)
    audit = (await api.client.get("/api/audit", params={"actor": "operator1"},
                                  headers=api.as_(Role.SUPERVISOR))).json()
    assert [e["action"] for e in audit] == ["alarm.clear", "alarm.comment", "alarm.assign", "alarm.ack"]
    assert {e["remote"] for e in audit} == {"192.0.2.10"} and {e["role"] for e in audit} == {"operator"}


async def test_supervisor_arms_zones(api: Api, harness: Harness) -> None:
    op, sup = api.as_(Role.OPERATOR), api.as_(Role.SUPERVISOR)
    assert (await api.client.put("/api/zones/tz_office/arming", json={"mode": "disarmed"},
                                 headers=op)).status_code == 403
    r = await api.client.put("/api/zones/tz_office/arming", json={"mode": "disarmed"}, headers=sup)
    assert r.status_code == 200 and r.json()["armed"] is False and r.json()["set_by"] == "supervisor1"
    assert (await api.client.put("/api/zones/nowhere/arming", json={"mode": "armed"},
                                 headers=sup)).status_code == 404
    bad = await api.client.put("/api/zones/tz_office/arming", json={"mode": "maybe"}, headers=sup)
    assert bad.status_code == 422 and "mode" in str(bad.json()["detail"])
    states = {z["zone"]: z for z in (await api.client.get("/api/zones/arming", headers=op)).json()}
    assert states["tz_office"]["mode"] == "disarmed" and states["tz_lawn"]["armed"] is True
    await harness.sensors.handle_message("zigbee2mqtt/door_tp_lab", orjson.dumps({"contact": False}))
    assert await harness.alarms.count_active() == 0  # disarmed: no intrusion
    audit = (await api.client.get("/api/audit", params={"action": "zone.disarmed"}, headers=sup)).json()
    assert audit[0]["target"] == "zone:tz_office" and audit[0]["actor"] == "supervisor1"


async def test_sensors_pending_place_and_readings(api: Api, harness: Harness) -> None:
    config = {"state_topic": "zigbee2mqtt/annex/pir 2", "device_class": "motion",
              "device": {"model": "RTCGQ11LM", "manufacturer": "Aqara"}}
    await harness.sensors.handle_message("homeassistant/binary_sensor/0xabc/occupancy/config",
                                         orjson.dumps(config))
    viewer, sup = api.as_(Role.VIEWER), api.as_(Role.SUPERVISOR)
    pending = (await api.client.get("/api/sensors/pending", headers=viewer)).json()
    assert [(p["id"], p["kind"]) for p in pending] == [("annex/pir 2", "pir")]
    url = "/api/sensors/annex/pir 2/place"
    body = {"x": OFFICE_POINT[0], "y": OFFICE_POINT[1]}
    assert (await api.client.post(url, json=body, headers=viewer)).status_code == 403
    bad_zone = await api.client.post(url, json={**body, "zone": "atlantis"}, headers=sup)
    assert bad_zone.status_code == 422 and bad_zone.json()["detail"][0]["loc"] == ["body", "zone"]
    placed = await api.client.post(url, json=body, headers=sup)
    assert placed.status_code == 200 and placed.json()["zone"] == "tz_office"
    assert (await api.client.post("/api/sensors/ghost/place", json=body, headers=sup)).status_code == 404
    placed_ids = [s["id"] for s in (await api.client.get("/api/sensors", params={"status": "placed"},
                                                          headers=viewer)).json()]
    assert "annex/pir 2" in placed_ids and "door_tp_lab" in placed_ids
    await harness.sensors.handle_message("zigbee2mqtt/annex/pir 2", orjson.dumps({"temperature": 19.5}))
    await harness.sensors.readings.flush(harness.clock.now(), everything=True)
    readings = (await api.client.get("/api/sensors/annex/pir 2/readings", headers=viewer)).json()
    assert readings[0]["field"] == "temperature" and readings[0]["last"] == 19.5
    stats = (await api.client.get("/api/sensors/stats", headers=viewer)).json()
    assert stats["counters"]["discovered"] == 1


async def test_incident_detail_has_both_events(api: Api, harness: Harness) -> None:
    await raise_door(harness)
    await harness.alarms.signal(AlarmSignal("camera:cam_test", AlarmType.VISION, "camera_event",
                                            position=OFFICE_POINT, detail={"event_id": "e9"}))
    incidents = (await api.client.get("/api/incidents", params={"status": "open"},
                                      headers=api.as_(Role.VIEWER))).json()
    assert len(incidents) == 1
    detail = (await api.client.get(f"/api/incidents/{incidents[0]['id']}", headers=api.as_(Role.VIEWER))).json()
    assert {a["type"] for a in detail["alarms"]} == {"intrusion", "vision"}
    assert (await api.client.get("/api/incidents/4242", headers=api.as_(Role.VIEWER))).status_code == 404
