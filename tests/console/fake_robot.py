"""FakeRobotDog: a purpose-built VDA 5050 robot for console tests (a paho client, no simulator physics).

It walks back and forth between two waypoints, reports its state at 5 Hz, and obeys the instant
actions the console sends: `startPause` stops it, `stopPause` lets it go on, `cancelOrder` drops
its route. Every instant action received is kept in `received` for the test to check.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from patrol.broker import BrokerEndpoint


class FakeRobotDog:
    def __init__(self, broker: BrokerEndpoint, serial: str, a: tuple[str, float, float], b: tuple[str, float, float],
                 manufacturer: str = "acme", speed: float = 4.0) -> None:
        self.broker, self.serial, self.manufacturer = broker, serial, manufacturer
        self.a, self.b, self.speed = a, b, speed
        self.base = f"uagv/v2/{manufacturer}/{serial}"
        self.received: list[dict[str, Any]] = []
        self.paused = False
        self.order_id = "ord-patrol-1"
        self.pos = (a[1], a[2])
        self.towards = b
        self.header = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{serial}")
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._run, name=f"fake-robot-{serial}", daemon=True)

    def __enter__(self) -> FakeRobotDog:
        self.client.connect(self.broker.host, self.broker.port)
        self.client.subscribe(f"{self.base}/instantActions", qos=0)
        self.client.loop_start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()

    def actions(self) -> list[str]:
        with self._lock:
            return [a.get("actionType", "") for msg in self.received for a in msg.get("actions", [])]

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            return
        with self._lock:
            self.received.append(body)
            for action in body.get("actions", []):
                kind = action.get("actionType")
                if kind == "startPause":
                    self.paused = True
                elif kind == "stopPause":
                    self.paused = False
                elif kind == "cancelOrder":
                    self.order_id = ""

    def _step(self, dt: float) -> None:
        if self.paused or not self.order_id:
            return
        tx, ty = self.towards[1], self.towards[2]
        dx, dy = tx - self.pos[0], ty - self.pos[1]
        dist = math.hypot(dx, dy)
        if dist < self.speed * dt:
            self.pos = (tx, ty)
            self.towards = self.a if self.towards is self.b else self.b
            return
        self.pos = (self.pos[0] + dx / dist * self.speed * dt, self.pos[1] + dy / dist * self.speed * dt)

    def _state(self) -> bytes:
        self.header += 1
        with self._lock:
            moving = bool(self.order_id) and not self.paused
            theta = math.atan2(self.towards[2] - self.pos[1], self.towards[1] - self.pos[0])
            nodes = [{"nodeId": self.towards[0], "sequenceId": 2, "released": True}] if self.order_id else []
            return orjson.dumps({
                "headerId": self.header, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.00Z", time.gmtime()),
                "version": "2.1.0", "manufacturer": self.manufacturer, "serialNumber": self.serial,
                "orderId": self.order_id, "orderUpdateId": 0, "lastNodeId": "", "lastNodeSequenceId": 0,
                "driving": moving, "paused": self.paused, "operatingMode": "AUTOMATIC", "nodeStates": nodes,
                "edgeStates": [], "actionStates": [], "errors": [],
                "batteryState": {"batteryCharge": 76.0, "charging": False},
                "safetyState": {"eStop": "NONE", "fieldViolation": False},
                "agvPosition": {"x": self.pos[0], "y": self.pos[1], "theta": theta, "mapId": "park",
                                "positionInitialized": True},
            })

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._step(0.2)
            self.client.publish(f"{self.base}/state", self._state(), qos=0)
