"""Pydantic models of the GeoJSON properties of each feature type (see docs/MAPS.md).

Strict types, unknown properties refused (a typo such as ``widht`` is reported, not
ignored), except simplestyle keys that GIS tools add (``stroke``, ``fill``, ``marker-color``,
...) and keys starting with ``x-`` or ``x_``, which are dropped before validation.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Number2 = tuple[float, float]

STYLE_KEYS = frozenset(
    {
        "stroke", "stroke-width", "stroke-opacity", "fill", "fill-opacity",
        "marker-color", "marker-size", "marker-symbol", "title",
    }
)


def strip_style(properties: dict[str, object]) -> dict[str, object]:
    """Properties without presentation keys (simplestyle, ``x-``/``x_`` extensions)."""
    return {
        key: value
        for key, value in properties.items()
        if key not in STYLE_KEYS and not key.startswith(("x-", "x_"))
    }


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Id
    description: Text = ""


class WaypointProps(_Props):
    type: Literal["waypoint"]
    name: Text = ""


class PathProps(_Props):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    type: Literal["path"]
    from_: Id = Field(alias="from")
    to: Id
    width: float = Field(default=2.0, gt=0.0, le=100.0, description="metres")
    bidirectional: bool = True
    stairs: bool = False
    slope: float = Field(default=0.0, ge=-100.0, le=100.0, description="grade in percent, uphill from->to")
    max_speed: float = Field(default=1.5, gt=0.0, le=20.0, description="m/s")
    name: Text = ""


class PoiProps(_Props):
    type: Literal["poi"]
    name_zh: Name
    name_en: Name
    aliases: list[Name] = Field(default_factory=list)
    category: Name
    opening_hours: Text = "24/7"
    entrance: Id


class ZoneProps(_Props):
    type: Literal["zone"]
    name_zh: Name
    name_en: Name
    kind: Literal["restricted", "no_go", "after_hours"]
    schedule: Text = "24/7"
    priority: int = Field(default=1, ge=0, le=10)


class CheckpointProps(_Props):
    type: Literal["checkpoint"]
    waypoint: Id
    revisit_s: float = Field(gt=0.0, le=7 * 86400.0)
    priority: int = Field(default=1, ge=0, le=10)


class CameraProps(_Props):
    type: Literal["camera"]
    heading: float = Field(ge=0.0, lt=360.0, description="compass bearing, 0 north, 90 east")
    fov: float = Field(gt=0.0, le=360.0, description="horizontal field of view, degrees")
    range: float = Field(gt=0.0, le=500.0, description="metres")
    stream_url: Annotated[str, StringConstraints(pattern=r"^(https?|rtsp|file)://\S+$")]
    image_size: tuple[int, int] = (640, 480)
    image_points: tuple[Number2, Number2, Number2, Number2]
    ground_points: tuple[Number2, Number2, Number2, Number2] = Field(description="[lon, lat] each")
    name: Text = ""


class SensorProps(_Props):
    type: Literal["sensor"]
    kind: Literal["door", "pir", "fence", "smoke", "water", "tamper"]
    zone: Id | None = None
    name: Text = ""


class ChargerProps(_Props):
    type: Literal["charger"]
    waypoint: Id
    capacity: int = Field(default=1, ge=1, le=100)


class BoundaryProps(_Props):
    type: Literal["boundary"]
    name: Text = ""


class ParkMeta(BaseModel):
    """The FeatureCollection's ``park`` member."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Id
    name_en: Name
    name_zh: Name
    origin: Number2 = Field(description="[lat, lon] of the local frame's origin")
    timezone: Name = "Asia/Shanghai"
    description: Text = ""


PROPS: dict[str, type[_Props]] = {
    "waypoint": WaypointProps,
    "path": PathProps,
    "poi": PoiProps,
    "zone": ZoneProps,
    "checkpoint": CheckpointProps,
    "camera": CameraProps,
    "sensor": SensorProps,
    "charger": ChargerProps,
    "boundary": BoundaryProps,
}

GEOMETRY: dict[str, tuple[str, ...]] = {
    "waypoint": ("Point",),
    "path": ("LineString",),
    "poi": ("Point", "Polygon"),
    "zone": ("Polygon",),
    "checkpoint": ("Point",),
    "camera": ("Point",),
    "sensor": ("Point",),
    "charger": ("Point",),
    "boundary": ("Polygon",),
}
