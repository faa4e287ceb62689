"""Parsing of what devices publish: Zigbee2MQTT state and availability, Home Assistant discovery
configs, Frigate-shaped vision events and camera status. Pure functions; bad input raises `WireError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Z2M_PREFIX = "zigbee2mqtt/"
HA_PREFIX = "homeassistant/"
BOOL_FIELDS = ("contact", "occupancy", "smoke", "water_leak", "vibration", "tamper", "battery_low")
NUMERIC_FIELDS = ("battery", "temperature", "humidity", "linkquality", "voltage", "pressure",
                  "illuminance", "illuminance_lux", "co2")
VIBRATION_ACTIONS = frozenset({"vibration", "tilt", "drop"})
MAX_NAME = 128
_TEMPLATE_FIELD = re.compile(r"value_json(?:\.(\w+)|\[['\"](\w+)['\"]\])")


class WireError(ValueError):
    """A message that cannot be understood; the text says which topic and field."""


@dataclass(frozen=True, slots=True)
class Z2MTopic:
    kind: Literal["state", "availability", "bridge", "command"]
    name: str


def parse_z2m_topic(topic: str) -> Z2MTopic:
    """Classify a ``zigbee2mqtt/...`` topic (friendly names may contain '/')."""
    if not topic.startswith(Z2M_PREFIX):
        raise WireError(f"{topic}: not a Zigbee2MQTT topic")
    rest = topic[len(Z2M_PREFIX):]
    if not rest or len(rest) > MAX_NAME + 16:
        raise WireError(f"{topic}: empty or over-long device name")
    if rest == "bridge" or rest.startswith("bridge/"):
        return Z2MTopic("bridge", rest)
    if rest.endswith("/availability"):
        return Z2MTopic("availability", rest[: -len("/availability")])
    for suffix in ("/set", "/get"):
        if rest.endswith(suffix) or f"{suffix}/" in rest:
            return Z2MTopic("command", rest.split(suffix)[0])
    return Z2MTopic("state", rest)


def _json_object(topic: str, payload: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"{topic}: payload is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise WireError(f"{topic}: payload is JSON {type(data).__name__}, expected an object")
    return data


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The fields of one Zigbee2MQTT state message that ingest uses; `bad_fields` were ill-typed."""

    flags: dict[str, bool]
    numbers: dict[str, float]
    bad_fields: tuple[str, ...]


def parse_state(topic: str, payload: bytes) -> DeviceState:
    data = _json_object(topic, payload)
    flags: dict[str, bool] = {}
    numbers: dict[str, float] = {}
    bad: list[str] = []
    for name in BOOL_FIELDS:
        if name in data and data[name] is not None:
            value = data[name]
            if isinstance(value, bool):
                flags[name] = value
            else:
                bad.append(name)
    action = data.get("action")
    if isinstance(action, str) and action in VIBRATION_ACTIONS:
        flags["vibration"] = True
    for name in NUMERIC_FIELDS:
        if name in data and data[name] is not None:
            value = data[name]
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                numbers[name] = float(value)
            else:
                bad.append(name)
    if "battery" in numbers and not 0.0 <= numbers["battery"] <= 100.0:
        numbers.pop("battery")
        bad.append("battery")
    return DeviceState(flags, numbers, tuple(bad))


def parse_availability(topic: str, payload: bytes) -> bool:
    """True for online, False for offline (JSON ``{"state": ...}`` or the legacy plain text)."""
    text = payload.strip()
    if text in (b"online", b"offline"):
        return text == b"online"
    data = _json_object(topic, payload)
    state = data.get("state")
    if state not in ("online", "offline"):
        raise WireError(f"{topic}: field 'state' is {state!r}, expected 'online' or 'offline'")
    return bool(state == "online")


# -- Home Assistant discovery -------------------------------------------------------------------------

DEVICE_CLASS_CAPABILITY = {
    "door": "contact", "window": "contact", "opening": "contact", "garage_door": "contact",
    "motion": "occupancy", "occupancy": "occupancy", "presence": "occupancy", "smoke": "smoke",
    "moisture": "water_leak", "vibration": "vibration", "tamper": "tamper", "battery": "battery",
    "temperature": "temperature", "humidity": "humidity", "signal_strength": "linkquality",
}
KNOWN_CAPABILITIES = frozenset(BOOL_FIELDS) | frozenset(NUMERIC_FIELDS)
CAPABILITY_KIND = (("smoke", "smoke"), ("water_leak", "water"), ("contact", "door"), ("occupancy", "pir"),
                   ("vibration", "fence"), ("tamper", "tamper"))


class _DiscoveryDevice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    model: str | None = None
    manufacturer: str | None = None


class _DiscoveryConfig(BaseModel):
    state_topic: str | None = Field(default=None, alias="stat_t")
    device_class: str | None = Field(default=None, alias="dev_cla")
    object_id: str | None = None
    value_template: str | None = Field(default=None, alias="val_tpl")
    expire_after: float | None = Field(default=None, gt=0)
    device: _DiscoveryDevice | None = Field(default=None, alias="dev")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


@dataclass(frozen=True, slots=True)
class Discovery:
    """A device announced by discovery: its friendly name and one capability."""

    name: str
    capability: str | None
    model: str
    manufacturer: str
    expire_after_s: float | None


def parse_discovery(topic: str, payload: bytes) -> Discovery | None:
    """A discovery config; None for a removal (empty payload) or a non-Zigbee2MQTT entity."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != "homeassistant" or parts[-1] != "config":
        raise WireError(f"{topic}: expected homeassistant/<component>/[<node_id>/]<object_id>/config")
    if not payload.strip():
        return None
    try:
        config = _DiscoveryConfig.model_validate(_json_object(topic, payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WireError(f"{topic}: field {where!r}: {first['msg']}") from exc
    state_topic = config.state_topic
    if state_topic is None or not state_topic.startswith(Z2M_PREFIX):
        return None
    name = state_topic[len(Z2M_PREFIX):]
    if not name or len(name) > MAX_NAME or name.startswith("bridge"):
        raise WireError(f"{topic}: state_topic {state_topic!r} names no device")
    capability: str | None = None
    template = config.value_template or ""
    match = _TEMPLATE_FIELD.search(template)
    if match is not None and (match.group(1) or match.group(2)) in KNOWN_CAPABILITIES:
        capability = match.group(1) or match.group(2)
    if capability is None and config.device_class:
        capability = DEVICE_CLASS_CAPABILITY.get(config.device_class)
    if capability is None:
        object_id = parts[-2]
        capability = object_id if object_id in KNOWN_CAPABILITIES else None
    device = config.device or _DiscoveryDevice()
    return Discovery(name, capability, (device.model or "")[:128], (device.manufacturer or "")[:128],
                     config.expire_after)


def kind_for(capabilities: list[str] | set[str]) -> str:
    """A sensor kind for a set of capabilities (the most safety-relevant wins), or 'unknown'."""
    for capability, kind in CAPABILITY_KIND:
        if capability in capabilities:
            return kind
    return "unknown"


# -- vision events and camera status ------------------------------------------------------------------

class MapPosition(BaseModel):
    model_config = ConfigDict(extra="ignore")
    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


class VisionObject(BaseModel):
    """The Frigate-shaped `before`/`after` object (`vision.events.EventState`; extra fields ignored).

    The map position is `position: {x, y}` (vision workers) or top-level `x`, `y`.
    """

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    camera: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=64)
    sub_label: str | None = Field(default=None, max_length=64)
    rules: list[str] = Field(default_factory=list)
    false_positive: bool = False
    robot: str | None = Field(default=None, max_length=64)
    position: MapPosition | None = None
    score: float | None = Field(default=None, ge=0, le=1)
    top_score: float | None = Field(default=None, ge=0, le=1)
    zones: list[str] = Field(default_factory=list)
    current_zones: list[str] = Field(default_factory=list)
    box: list[float] | None = None
    start_time: float | None = None
    end_time: float | None = None
    has_snapshot: bool = False
    x: float | None = Field(default=None, allow_inf_nan=False)
    y: float | None = Field(default=None, allow_inf_nan=False)

    @property
    def map_position(self) -> tuple[float, float] | None:
        if self.position is not None:
            return self.position.x, self.position.y
        if self.x is not None and self.y is not None:
            return self.x, self.y
        return None

    @property
    def best_score(self) -> float:
        return max(s for s in (self.score, self.top_score, 0.0) if s is not None)


class VisionEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["new", "update", "end"]
    before: VisionObject | None = None
    after: VisionObject


def parse_vision(topic: str, payload: bytes) -> VisionEvent:
    try:
        return VisionEvent.model_validate(_json_object(topic, payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WireError(f"{topic}: field {where!r}: {first['msg']}") from exc


def parse_camera_topic(topic: str) -> str:
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["parkpatrol", "cameras"] or parts[3] != "status" or not parts[2]:
        raise WireError(f"{topic}: expected parkpatrol/cameras/<id>/status")
    return parts[2]


def parse_camera_status(topic: str, payload: bytes) -> bool:
    """True when the camera is online; plain ``online``/``offline`` or JSON ``{"status": ...}``."""
    text = payload.strip()
    if text in (b"online", b"offline"):
        return text == b"online"
    data = _json_object(topic, payload)
    status = data.get("status", data.get("state"))
    if status not in ("online", "offline"):
        raise WireError(f"{topic}: field 'status' is {status!r}, expected 'online' or 'offline'")
    return bool(status == "online")
