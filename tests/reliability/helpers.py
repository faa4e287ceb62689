"""Shared helpers of the reliability suite: VDA 5050 payloads, polling, MQTT clients for tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from patrol.broker import BrokerEndpoint, free_port
from patrol.roles import Role
from tests.support import TEST_SECRET

GOOD_TIMESTAMP = "2026-11-28T04:00:00.00Z"


def state_dict(serial: str, x: float, y: float, *, manufacturer: str = "acme", header: int = 1,
               battery: float = 80.0, timestamp: str = GOOD_TIMESTAMP) -> dict[str, Any]:
    """A valid VDA 5050 2.1 `state` message of a robot at (x, y) on the park map."""
    return {
        "headerId": header, "timestamp": timestamp, "version": "2.1.0",
        "manufacturer": manufacturer, "serialNumber": serial, "orderId": "", "orderUpdateId": 0,
        "lastNodeId": "", "lastNodeSequenceId": 0, "driving": False, "operatingMode": "AUTOMATIC",
        "nodeStates": [], "edgeStates": [], "actionStates": [],
        "batteryState": {"batteryCharge": battery, "charging": False}, "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
        "agvPosition": {"x": x, "y": y, "theta": 0.0, "mapId": "park", "positionInitialized": True},
    }


def dumps(value: Any) -> bytes:
    """JSON as a careless or hostile sender writes it: NaN/Infinity literals allowed."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


async def eventually(pred: Callable[[], bool], within: float = 10.0, step: float = 0.05) -> None:
    """Wait until `pred()` holds (polling an in-process condition), else fail."""
    for _ in range(int(within / step)):
        if pred():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not reached within {within} s")


def paho_client(broker: BrokerEndpoint, client_id: str, *, clean: bool = True) -> mqtt.Client:
    """A connected paho client with its network thread running (MQTT 3.1.1)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.connect(broker.host, broker.port, keepalive=10)
    c.loop_start()
    return c


def close_client(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()


class LiveServer:
    """The service app under a real uvicorn on a free port, in a background thread with its own loop."""

    def __init__(self, app: Any, *, ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None) -> None:
        self.port = free_port()
        self.scheme = "https" if ssl_certfile else "http"
        self.config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning",
                                     ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                                     ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
                                     ws="websockets-sansio")
        self.server = uvicorn.Server(self.config)
        self._thread = threading.Thread(target=self.server.run, name="uvicorn-under-test", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn under test did not start (see the log above)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(30)


async def prepare_store(database_url: str, users: Sequence[Role], robots: Sequence[str] = ()) -> dict[Role, str]:
    """Create one user per role (password returned) and register robots, before a service starts."""
    from patrol.auth import AuthService
    from patrol.fleet.registry import RobotKind, RobotRegistry
    from patrol.store.db import Store

    store = Store(database_url)
    try:
        await store.migrate()
        auth = AuthService(store.sessions, TEST_SECRET)
        passwords = {}
        for role in users:
            passwords[role] = f"pw-{role.value}-0123456789"
            await auth.add_user(f"user-{role.value}", passwords[role], role)
        registry = RobotRegistry(store.sessions)
        await registry.load()
        for serial in robots:
            await registry.add("acme", serial, RobotKind.PATROL_DOG)
        return passwords
    finally:
        await store.close()
