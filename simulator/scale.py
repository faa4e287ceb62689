"""Scale mode: hundreds of robots and thousands of sensors on one machine, at real rates.

An agent per robot would spend the machine on asyncio bookkeeping, so scale mode runs a
lightweight publisher instead: robots move on the park graph with the same speed model
(vectorised with numpy) and publish VDA 5050 `state` at 1 Hz; sensors publish their
Zigbee2MQTT report every `sensor_period_s` (spread evenly, with jitter) plus random trips.
Messages go out through paho-mqtt in batches per 100 ms tick; the figures it prints are
measured, not assumed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from maps import Park
from simulator.mqtt import BrokerSpec
from simulator.runner import MANUFACTURER

log = logging.getLogger(__name__)

_KINDS = ("door", "pir", "fence", "smoke", "water", "tamper")
_KIND_WEIGHTS = (0.35, 0.3, 0.2, 0.08, 0.05, 0.02)
_FIELD = {"door": "contact", "pir": "occupancy", "fence": "vibration", "smoke": "smoke", "water": "water_leak",
          "tamper": "tamper"}
_IDLE = {"door": True, "pir": False, "fence": False, "smoke": False, "water": False, "tamper": False}


@dataclass(frozen=True)
class ScaleConfig:
    robots: int = 500
    sensors: int = 10_000
    duration_s: float = 60.0
    robot_period_s: float = 1.0
    sensor_period_s: float = 30.0
    trips_per_s: float = 5.0  # sensor triggers per second across the whole network
    tick_s: float = 0.1
    qos: int = 0
    seed: int = 0
    interface: str = "uagv"
    report_every_s: float = 10.0


@dataclass
class ScaleReport:
    duration_s: float
    robot_messages: int
    sensor_messages: int
    trip_messages: int
    publish_errors: int
    target_rate: float
    max_tick_lag_s: float
    samples: list[tuple[float, float]]  # (elapsed, messages/s over the last interval)

    @property
    def total(self) -> int:
        return self.robot_messages + self.sensor_messages + self.trip_messages

    @property
    def rate(self) -> float:
        return self.total / self.duration_s if self.duration_s > 0 else 0.0

    def lines(self) -> list[str]:
        return [
            f"duration            {self.duration_s:8.1f} s",
            f"robot states        {self.robot_messages:8d}  ({self.robot_messages / self.duration_s:8.1f} /s)",
            f"sensor reports      {self.sensor_messages:8d}  ({self.sensor_messages / self.duration_s:8.1f} /s)",
            f"sensor trips        {self.trip_messages:8d}  ({self.trip_messages / self.duration_s:8.1f} /s)",
            f"total published     {self.total:8d}  ({self.rate:8.1f} /s, target {self.target_rate:.1f} /s, "
            f"{100 * self.rate / self.target_rate if self.target_rate else 0:.1f} %)",
            f"min interval rate   {min((r for _, r in self.samples), default=0.0):8.1f} /s",
            f"publish errors      {self.publish_errors:8d}",
            f"max tick lag        {self.max_tick_lag_s * 1000:8.1f} ms",
        ]


class _Fleet:
    """Robots walking the park graph: each goes to a random neighbour, then the next."""

    def __init__(self, park: Park, n: int, rng: random.Random, speed: float = 1.5) -> None:
        ids = list(park.waypoints)
        self.pos = {w: (park.waypoints[w].x, park.waypoints[w].y) for w in ids}
        self.adj: dict[str, list[str]] = {w: [] for w in ids}
        for p in park.paths.values():
            self.adj[p.a].append(p.b)
            if p.bidirectional:
                self.adj[p.b].append(p.a)
        self.rng = rng
        self.speed = speed
        self.last = [rng.choice(ids) for _ in range(n)]
        self.nxt = [self._neighbour(w) for w in self.last]
        self.xy = np.array([self.pos[w] for w in self.last], np.float64)
        self.theta = np.zeros(n)
        self.charge = np.array([rng.uniform(40, 100) for _ in range(n)])

    def _neighbour(self, w: str) -> str:
        return self.rng.choice(self.adj[w]) if self.adj[w] else w

    def step(self, dt: float) -> None:
        target = np.array([self.pos[w] for w in self.nxt], np.float64)
        d = target - self.xy
        dist = np.hypot(d[:, 0], d[:, 1])
        move = np.minimum(dist, self.speed * dt)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(dist[:, None] > 1e-9, d / dist[:, None], 0.0)
        self.xy += unit * move[:, None]
        self.theta = np.where(dist > 1e-9, np.arctan2(d[:, 1], d[:, 0]), self.theta)
        self.charge = np.maximum(5.0, self.charge - move * 0.004)
        for i in np.nonzero(dist - move < 0.05)[0].tolist():
            self.last[i] = self.nxt[i]
            self.nxt[i] = self._neighbour(self.last[i])


def _state(serial: str, header: int, ts: str, x: float, y: float, theta: float, charge: float, last: str,
           map_id: str) -> dict[str, object]:
    return {
        "headerId": header, "timestamp": ts, "version": "2.1.0", "manufacturer": MANUFACTURER,
        "serialNumber": serial, "orderId": "", "orderUpdateId": 0, "lastNodeId": last, "lastNodeSequenceId": 0,
        "nodeStates": [], "edgeStates": [], "driving": True, "paused": False, "newBaseRequest": False,
        "agvPosition": {"x": round(x, 3), "y": round(y, 3), "theta": round(theta, 4), "mapId": map_id,
                        "positionInitialized": True},
        "velocity": {"vx": 0.0, "vy": 0.0, "omega": 0.0},
        "actionStates": [], "batteryState": {"batteryCharge": round(charge, 1), "charging": False},
        "operatingMode": "AUTOMATIC", "errors": [], "information": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
    }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_scale(park: Park, broker: BrokerSpec, config: ScaleConfig,
              progress: Callable[[str], None] | None = None) -> ScaleReport:
    """Publish at the configured rates for `duration_s` and measure what actually went out."""
    rng = random.Random(config.seed)
    fleet = _Fleet(park, config.robots, rng)
    serials = [f"scale-{i:04d}" for i in range(config.robots)]
    state_topics = [f"{config.interface}/v2/{MANUFACTURER}/{s}/state" for s in serials]
    conn_topics = [f"{config.interface}/v2/{MANUFACTURER}/{s}/connection" for s in serials]
    kinds = rng.choices(_KINDS, weights=_KIND_WEIGHTS, k=config.sensors)
    names = [f"scale_{k}_{i:05d}" for i, k in enumerate(kinds)]
    battery = [rng.randint(30, 100) for _ in names]
    linkq = [rng.randint(40, 220) for _ in names]

    errors = 0
    lock = threading.Lock()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"parkpatrol-sim-scale-{config.seed}")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    creds = broker.for_device("scale")
    if creds is not None:
        client.username_pw_set(creds.username, creds.password)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p=None: connected.set()
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(10.0):
            raise ConnectionError(f"scale mode could not connect to {broker.host}:{broker.port} within 10 s")

        def publish(topic: str, payload: bytes, qos: int = config.qos, retain: bool = False) -> mqtt.MQTTMessageInfo:
            nonlocal errors
            info = client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                with lock:
                    errors += 1
            return info

        now = time.time()
        for i, serial in enumerate(serials):
            publish(conn_topics[i], orjson.dumps({"headerId": 0, "timestamp": _iso(now), "version": "2.1.0",
                                                  "manufacturer": MANUFACTURER, "serialNumber": serial,
                                                  "connectionState": "ONLINE"}), qos=1, retain=True)
        robot_due = np.array([config.robot_period_s * i / max(1, config.robots) for i in range(config.robots)])
        sensor_due = np.array([config.sensor_period_s * (i + rng.random()) / max(1, config.sensors)
                               for i in range(config.sensors)])
        headers = [1] * config.robots
        robot_msgs = sensor_msgs = trip_msgs = 0
        trip_debt = 0.0
        samples: list[tuple[float, float]] = []
        start = time.monotonic()
        last_report, last_count = start, 0
        max_lag = 0.0
        tick = 0
        while True:
            tick += 1
            t_sched = start + tick * config.tick_s
            delay = t_sched - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # a paced load generator on its own thread of control
            t_now = time.monotonic()
            max_lag = max(max_lag, t_now - t_sched)
            elapsed = t_now - start
            if elapsed >= config.duration_s:
                break
            wall = time.time()
            ts = _iso(wall)
            fleet.step(config.tick_s)
            for i in np.nonzero(robot_due <= elapsed)[0].tolist():
                x, y = fleet.xy[i]
                msg = _state(serials[i], headers[i], ts, float(x), float(y), float(fleet.theta[i]),
                             float(fleet.charge[i]), fleet.last[i], park.id)
                headers[i] += 1
                publish(state_topics[i], orjson.dumps(msg))
                robot_due[i] += config.robot_period_s
                robot_msgs += 1
            for j in np.nonzero(sensor_due <= elapsed)[0].tolist():
                k = kinds[j]
                payload = {_FIELD[k]: _IDLE[k], "battery": battery[j], "linkquality": linkq[j], "last_seen": ts}
                publish(f"zigbee2mqtt/{names[j]}", orjson.dumps(payload))
                sensor_due[j] += config.sensor_period_s * (1.0 + rng.uniform(-0.05, 0.05))
                sensor_msgs += 1
            trip_debt += config.trips_per_s * config.tick_s
            while trip_debt >= 1.0:
                trip_debt -= 1.0
                j = rng.randrange(config.sensors)
                k = kinds[j]
                payload = {_FIELD[k]: not _IDLE[k], "battery": battery[j], "linkquality": linkq[j], "last_seen": ts}
                publish(f"zigbee2mqtt/{names[j]}", orjson.dumps(payload))
                trip_msgs += 1
            if t_now - last_report >= config.report_every_s:
                count = robot_msgs + sensor_msgs + trip_msgs
                rate = (count - last_count) / (t_now - last_report)
                samples.append((round(elapsed, 1), rate))
                if progress is not None:
                    progress(f"t={elapsed:6.1f}s  {rate:8.1f} msg/s  (robots {robot_msgs}, sensors {sensor_msgs}, "
                             f"trips {trip_msgs}, errors {errors})")
                last_report, last_count = t_now, count
        duration = time.monotonic() - start
        last_info = None
        for i, serial in enumerate(serials):
            last_info = publish(conn_topics[i], orjson.dumps({"headerId": 1, "timestamp": _iso(time.time()),
                                                  "version": "2.1.0", "manufacturer": MANUFACTURER,
                                                  "serialNumber": serial, "connectionState": "OFFLINE"}),
                    qos=1, retain=True)
        if last_info is not None:
            last_info.wait_for_publish(10.0)
    finally:
        client.disconnect()
        client.loop_stop()
    target = config.robots / config.robot_period_s + config.sensors / config.sensor_period_s + config.trips_per_s
    return ScaleReport(duration, robot_msgs, sensor_msgs, trip_msgs, errors, target, max_lag, samples)


def expected_rate(config: ScaleConfig) -> float:
    return config.robots / config.robot_period_s + config.sensors / config.sensor_period_s + config.trips_per_s


__all__ = ["ScaleConfig", "ScaleReport", "expected_rate", "run_scale"]
