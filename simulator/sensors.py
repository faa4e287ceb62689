"""Simulated Zigbee sensors as Zigbee2MQTT publishes them.

Each sensor reports on `zigbee2mqtt/<friendly_name>` with the fields real devices of its kind
send (Aqara door/PIR/vibration, Heiman smoke, Aqara water leak): its state plus `battery`,
`voltage`, `linkquality` and `last_seen`. Availability is retained on
`zigbee2mqtt/<friendly_name>/availability` (`online`/`offline`, or Zigbee2MQTT 2.x JSON).
Devices report at a heartbeat with jitter and on change; people walking past trip PIR,
door contacts and fence vibration sensors; smoke, water and tamper are set on demand.
"""

from __future__ import annotations

import json
import logging
import math
import random
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from robots.clock import Clock
from simulator.events import EventLog

log = logging.getLogger(__name__)

SensorKind = Literal["door", "pir", "fence", "smoke", "water", "tamper"]
Scalar = str | int | float | bool | None

Z2M_BASE = "zigbee2mqtt"
PIR_RADIUS_M = 6.0
DOOR_RADIUS_M = 1.5
FENCE_RADIUS_M = 2.5
DOOR_OPEN_S = 4.0
VIBRATION_RESET_S = 10.0

_MODELS: dict[str, tuple[str, str]] = {
    "door": ("MCCGQ11LM", "Aqara door & window contact sensor"),
    "pir": ("RTCGQ11LM", "Aqara human body movement and illuminance sensor"),
    "fence": ("DJT11LM", "Aqara vibration sensor"),
    "smoke": ("HS1SA", "HEIMAN smoke detector"),
    "water": ("SJCGQ11LM", "Aqara water leak sensor"),
    "tamper": ("HS1CA-E", "HEIMAN tamper/intrusion sensor"),
}
_STATE_FIELD: dict[str, str] = {
    "door": "contact", "pir": "occupancy", "fence": "vibration", "smoke": "smoke", "water": "water_leak",
    "tamper": "tamper",
}
_HA_CLASS: dict[str, str] = {
    "door": "door", "pir": "occupancy", "fence": "vibration", "smoke": "smoke", "water": "moisture",
    "tamper": "tamper",
}


class Publisher(Protocol):
    """Where sensor messages go (an MQTT client in the simulation)."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None: ...


def state_topic(name: str) -> str:
    return f"{Z2M_BASE}/{name}"


def availability_topic(name: str) -> str:
    return f"{Z2M_BASE}/{name}/availability"


@dataclass(frozen=True)
class SensorSpec:
    name: str  # Zigbee2MQTT friendly name
    kind: SensorKind
    x: float
    y: float
    zone: str | None = None


@dataclass
class _Sensor:
    spec: SensorSpec
    battery: float
    linkquality: int
    next_report: float
    state: dict[str, Scalar] = field(default_factory=dict)
    silent: bool = False
    silent_since: float = 0.0
    offline_published: bool = False
    people_near: set[str] = field(default_factory=set)
    reset_at: float | None = None  # when a door closes again / vibration resets
    last_motion: float = -math.inf


class SensorNetwork:
    """All simulated sensors of a park behind one Zigbee2MQTT bridge."""

    def __init__(self, specs: Iterable[SensorSpec], publisher: Publisher, clock: Clock, *,
                 events: EventLog | None = None, seed: int = 0, heartbeat_s: float = 60.0,
                 jitter: float = 0.1, occupancy_timeout_s: float = 60.0, offline_after_s: float = 600.0,
                 battery_drain_per_report: float = 0.002, availability_json: bool = False,
                 park_time: Callable[[], float] | None = None) -> None:
        self._rng = random.Random(seed)
        self._pub = publisher
        self._clock = clock
        self._events = events
        self.heartbeat_s = heartbeat_s
        self.jitter = jitter
        self.occupancy_timeout_s = occupancy_timeout_s
        self.offline_after_s = offline_after_s
        self._drain = battery_drain_per_report
        self._availability_json = availability_json
        self._park_time = park_time or clock.now
        now = clock.now()
        self._sensors: dict[str, _Sensor] = {}
        for spec in specs:
            s = _Sensor(spec, battery=self._rng.uniform(60.0, 100.0), linkquality=self._rng.randint(60, 220),
                        next_report=now + self._rng.uniform(0.0, heartbeat_s))
            s.state = _initial_state(spec.kind)
            self._sensors[spec.name] = s
        self.published = 0

    @property
    def names(self) -> list[str]:
        return list(self._sensors)

    def spec(self, name: str) -> SensorSpec:
        return self._lookup(name).spec

    def state(self, name: str) -> Mapping[str, Scalar]:
        return dict(self._lookup(name).state)

    # ------------------------------------------------------------------ lifecycle
    async def announce(self, *, discovery: bool = False) -> None:
        """Availability `online` (retained) and a first report for every sensor; HA discovery if asked."""
        for s in self._sensors.values():
            await self._availability(s, online=True)
            if discovery:
                for topic, config in discovery_configs(s.spec):
                    await self._pub.publish(topic, json.dumps(config).encode(), qos=1, retain=True)
            await self._report(s, reason="startup")

    async def tick(self) -> None:
        """Heartbeats, door closings, occupancy timeouts and silent sensors going offline."""
        now = self._clock.now()
        for s in self._sensors.values():
            if s.silent:
                if not s.offline_published and now - s.silent_since >= self.offline_after_s:
                    s.offline_published = True
                    await self._availability(s, online=False, force=True)
                continue
            if s.reset_at is not None and now >= s.reset_at:
                s.reset_at = None
                if s.spec.kind == "door":
                    s.state["contact"] = True
                    await self._report(s, reason="closed")
                elif s.spec.kind == "fence":
                    s.state["vibration"] = False
                    s.state.pop("action", None)
                    await self._report(s, reason="reset")
            if s.spec.kind == "pir" and s.state.get("occupancy") and \
                    now - s.last_motion >= self.occupancy_timeout_s:
                s.state["occupancy"] = False
                await self._report(s, reason="clear")
            if now >= s.next_report:
                await self._report(s, reason="heartbeat")

    async def run(self, tick_s: float = 1.0) -> None:
        while True:
            await self.tick()
            await self._clock.sleep(tick_s)

    # ------------------------------------------------------------------ triggers
    async def observe(self, people: Iterable[tuple[str, float, float]]) -> None:
        """Trip sensors near people: (person id, x, y) of everyone in the park now."""
        now = self._clock.now()
        positions = list(people)
        for s in self._sensors.values():
            kind = s.spec.kind
            radius = {"pir": PIR_RADIUS_M, "door": DOOR_RADIUS_M, "fence": FENCE_RADIUS_M}.get(kind)
            if radius is None:
                continue
            near = {pid for pid, x, y in positions if math.hypot(x - s.spec.x, y - s.spec.y) <= radius}
            arrived = near - s.people_near
            s.people_near = near
            if s.silent:
                continue
            if kind == "pir" and near:
                s.last_motion = now
                if not s.state.get("occupancy"):
                    s.state["occupancy"] = True
                    await self._report(s, reason="trip", person=min(near))
            elif kind == "door" and arrived:
                s.reset_at = now + DOOR_OPEN_S
                if s.state.get("contact", True):
                    s.state["contact"] = False
                    await self._report(s, reason="trip", person=min(arrived))
            elif kind == "fence" and arrived:
                s.reset_at = now + VIBRATION_RESET_S
                s.state.update(vibration=True, action="vibration", strength=self._rng.randint(20, 120))
                await self._report(s, reason="trip", person=min(arrived))

    async def set_values(self, name: str, values: Mapping[str, Scalar]) -> None:
        """Set fields on demand (smoke, water_leak, tamper, ...) and report at once."""
        s = self._lookup(name)
        s.state.update(values)
        await self._report(s, reason="set", **{k: v for k, v in values.items() if k not in ("reason", "s")})

    async def set_silent(self, name: str, silent: bool) -> None:
        """A silent sensor stops reporting; after `offline_after_s` the bridge marks it offline."""
        s = self._lookup(name)
        s.silent = silent
        s.silent_since = self._clock.now()
        self._record("sensor.silent", name, silent=silent)
        if not silent:
            s.offline_published = False
            await self._availability(s, online=True, force=True)
            await self._report(s, reason="back")

    # ------------------------------------------------------------------ internals
    def _lookup(self, name: str) -> _Sensor:
        try:
            return self._sensors[name]
        except KeyError:
            raise KeyError(f"unknown sensor {name!r}; known: {', '.join(sorted(self._sensors)[:20])}…") from None

    def _record(self, kind: str, subject: str, **data: Scalar) -> None:
        if self._events is not None:
            self._events.record(kind, subject, **data)

    async def _availability(self, s: _Sensor, *, online: bool, force: bool = False) -> None:
        word = "online" if online else "offline"
        payload = json.dumps({"state": word}).encode() if self._availability_json else word.encode()
        await self._pub.publish(availability_topic(s.spec.name), payload, qos=1, retain=True)
        self.published += 1
        if force:
            self._record("sensor.availability", s.spec.name, state=word)

    def payload(self, name: str) -> dict[str, Any]:
        """The JSON object this sensor would report now."""
        s = self._lookup(name)
        return self._payload(s)

    def _payload(self, s: _Sensor) -> dict[str, Any]:
        battery = max(0, round(s.battery))
        out: dict[str, Any] = dict(s.state)
        out.update(battery=battery, voltage=int(2700 + 5 * battery), linkquality=s.linkquality,
                   last_seen=datetime.fromtimestamp(self._park_time(), UTC).isoformat(timespec="milliseconds")
                   .replace("+00:00", "Z"))
        if s.spec.kind in ("smoke", "water", "tamper"):
            out["battery_low"] = battery < 20
        if s.spec.kind in ("door", "fence"):
            out["device_temperature"] = 24 + zlib.crc32(s.spec.name.encode()) % 5
        return out

    async def _report(self, s: _Sensor, *, reason: str, **data: Scalar) -> None:
        now = self._clock.now()
        s.battery = max(0.0, s.battery - self._drain)
        s.linkquality = max(0, min(255, s.linkquality + self._rng.randint(-6, 6)))
        payload = self._payload(s)
        await self._pub.publish(state_topic(s.spec.name), json.dumps(payload).encode(), qos=1)
        self.published += 1
        base = self.heartbeat_s
        s.next_report = now + base * (1.0 + self._rng.uniform(-self.jitter, self.jitter))
        state_field = _STATE_FIELD[s.spec.kind]
        if reason in ("heartbeat", "startup"):
            # logged too, so two runs compare on every message sent (the seed sets timing and radio noise)
            data = {"battery": payload["battery"], "linkquality": s.linkquality, **data}
        self._record(f"sensor.{reason}", s.spec.name, **{state_field: payload.get(state_field), **data})


def _initial_state(kind: str) -> dict[str, Scalar]:
    if kind == "door":
        return {"contact": True}
    if kind == "pir":
        return {"occupancy": False, "illuminance": 30}
    if kind == "fence":
        return {"vibration": False}
    if kind == "smoke":
        return {"smoke": False, "tamper": False}
    if kind == "water":
        return {"water_leak": False, "tamper": False}
    return {"tamper": False}


def discovery_configs(spec: SensorSpec) -> Sequence[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery configs, as Zigbee2MQTT publishes them for the device."""
    model, description = _MODELS[spec.kind]
    device = {"identifiers": [f"zigbee2mqtt_{spec.name}"], "name": spec.name, "model": description,
              "model_id": model, "manufacturer": description.split()[0], "via_device": "zigbee2mqtt_bridge"}
    avail = [{"topic": availability_topic(spec.name), "payload_available": "online",
              "payload_not_available": "offline"}]
    field_name = _STATE_FIELD[spec.kind]
    on, off = ("false", "true") if spec.kind == "door" else ("true", "false")
    binary = {
        "name": None, "object_id": f"{spec.name}_{field_name}", "unique_id": f"{spec.name}_{field_name}_zigbee2mqtt",
        "device_class": _HA_CLASS[spec.kind], "state_topic": state_topic(spec.name),
        "value_template": f"{{{{ value_json.{field_name} }}}}", "payload_on": on, "payload_off": off,
        "availability": avail, "device": device,
    }
    battery = {
        "name": "Battery", "object_id": f"{spec.name}_battery", "unique_id": f"{spec.name}_battery_zigbee2mqtt",
        "device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement",
        "state_topic": state_topic(spec.name), "value_template": "{{ value_json.battery }}",
        "availability": avail, "device": device,
    }
    return [
        (f"homeassistant/binary_sensor/{spec.name}/{field_name}/config", binary),
        (f"homeassistant/sensor/{spec.name}/battery/config", battery),
    ]
