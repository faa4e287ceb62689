"""Shared helpers of the reliability suite: VDA 5050 payloads, polling, MQTT clients for tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from patrol.broker import BrokerEndpoint

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
