"""The service end to end on a real Mosquitto and SQLite: health, robots from VDA 5050 state, roles."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from patrol.broker import BrokerEndpoint
from patrol.fleet.registry import RobotKind
from patrol.roles import Role
from tests.support import running_service, service_settings


def _state(serial: str, x: float, y: float, manufacturer: str = "acme", header: int = 1) -> bytes:
    return orjson.dumps({
        "headerId": header, "timestamp": "2026-11-28T04:00:00.00Z", "version": "2.1.0",
        "manufacturer": manufacturer, "serialNumber": serial, "orderId": "", "orderUpdateId": 0,
        "lastNodeId": "", "lastNodeSequenceId": 0, "driving": False, "operatingMode": "AUTOMATIC",
        "nodeStates": [], "edgeStates": [], "actionStates": [],
        "batteryState": {"batteryCharge": 80.0, "charging": False}, "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
        "agvPosition": {"x": x, "y": y, "theta": 0.0, "mapId": "park", "positionInitialized": True},
    })


def _publisher(broker: BrokerEndpoint) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


async def _eventually(pred: object, within: float = 5.0) -> None:
    assert callable(pred)
    for _ in range(int(within / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_robot_state_becomes_visible_and_bad_input_is_counted(tmp_path: Path, broker: BrokerEndpoint,
                                                                    database_url: str) -> None:
    # an interface of its own: retained messages other tests left on the shared broker stay out
    iface = f"t{secrets.token_hex(3)}"
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface})
    async with running_service(settings) as svc:
        rt = svc.runtime
        await rt.registry.add("acme", "dog-1", RobotKind.PATROL_DOG)
        rt.fleet.seed_from_registry()
        assert await rt.bus.wait_connected(5)
        wp = next(iter(rt.park.waypoints.values()))
        pub = _publisher(broker)
        try:
            pub.publish(f"{iface}/v2/acme/dog-1/state", _state("dog-1", wp.x, wp.y), qos=1).wait_for_publish(5)
            pub.publish(f"{iface}/v2/acme/dog-1/state", b"{not json", qos=1)
            pub.publish(f"{iface}/v2/acme/dog-1/state", _state("dog-2", wp.x, wp.y), qos=1)  # spoofed identity
            pub.publish(f"{iface}/v2/acme/dog-1/state", _state("dog-1", 1e7, 1e7), qos=1)  # outside the map
            pub.publish(f"{iface}/v2/acme/ghost/state", _state("ghost", wp.x, wp.y), qos=1)  # unknown robot
            await _eventually(lambda: sum(rt.fleet.rejected.values()) >= 4)
        finally:
            pub.loop_stop()
            pub.disconnect()
        assert rt.fleet.rejected["invalid_state"] == 1
        assert rt.fleet.rejected["identity_mismatch"] == 1
        assert rt.fleet.rejected["position_outside_map"] == 1
        assert rt.fleet.rejected["unknown_robot"] == 1
        headers = await svc.login_as(Role.VIEWER)
        robots = (await svc.client.get("/api/robots", headers=headers)).json()
        assert [r["robot_id"] for r in robots] == ["dog-1"]
        assert robots[0]["online"] is True
        assert robots[0]["x"] == pytest.approx(wp.x)
        assert robots[0]["battery"] == 80.0
        health = await svc.client.get("/api/health")
        assert health.status_code == 200
        assert health.json()["components"]["broker"]["ok"] is True


async def test_roles_and_login(tmp_path: Path, broker: BrokerEndpoint, database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
        assert (await svc.client.get("/api/robots")).status_code == 401
        viewer = await svc.login_as(Role.VIEWER)
        operator = await svc.login_as(Role.OPERATOR)
        await svc.runtime.registry.add("acme", "dog-9", RobotKind.PATROL_DOG)
        svc.runtime.fleet.seed_from_registry()
        body = {"command": "pause"}
        assert (await svc.client.post("/api/robots/dog-9/commands", json=body, headers=viewer)).status_code == 403
        assert (await svc.client.post("/api/robots/dog-9/commands", json=body, headers=operator)).status_code == 202
        bad = await svc.client.post("/api/robots/dog-9/commands", json={"command": "fly"}, headers=operator)
        assert bad.status_code == 422 and "command" in bad.text
        r = await svc.client.post("/api/auth/login", json={"username": "test-viewer", "password": "wrong-password"})
        assert r.status_code == 401
