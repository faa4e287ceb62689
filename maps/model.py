"""Immutable park model in the local metric frame (x east, y north, metres from the origin).

Built only by `maps.loader` from a validated GeoJSON file; every collection is a read-only
mapping keyed by id in file order.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import shapely
from shapely.geometry import Polygon

from maps.area_index import AreaIndex
from maps.camera import Homography
from maps.geo import LatLon, LocalFrame
from maps.schedule import WeeklySchedule

ZoneKind = Literal["restricted", "no_go", "after_hours"]
SensorKind = Literal["door", "pir", "fence", "smoke", "water", "tamper"]
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A routing node."""

    id: str
    x: float
    y: float
    lat: float
    lon: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class Path:
    """A walkable edge from waypoint `a` to waypoint `b` (both ways unless `bidirectional` is False)."""

    id: str
    a: str
    b: str
    length: float
    width: float
    bidirectional: bool
    stairs: bool
    slope: float
    max_speed: float
    polyline: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Poi:
    """A point of interest visitors and staff ask for."""

    id: str
    name_zh: str
    name_en: str
    aliases: tuple[str, ...]
    category: str
    opening_hours: WeeklySchedule
    entrance: str
    description: str
    x: float
    y: float
    footprint: tuple[Point, ...] = ()

    def is_open_at(self, when: datetime) -> bool:
        """Whether the POI is open at `when` (see `WeeklySchedule.active_at`)."""
        return self.opening_hours.active_at(when)


@dataclass(frozen=True, slots=True)
class Zone:
    """An area with access rules; `schedule` says when it is armed / in force."""

    id: str
    name_zh: str
    name_en: str
    kind: ZoneKind
    schedule: WeeklySchedule
    priority: int
    polygon: tuple[Point, ...]
    shape: Polygon = field(repr=False, compare=False)

    def active_at(self, when: datetime) -> bool:
        """Whether the zone's rule is in force at `when`."""
        return self.schedule.active_at(when)

    def contains(self, x: float, y: float) -> bool:
        """Whether local point (x, y) is inside (or on the edge of) the zone."""
        return bool(shapely.intersects_xy(self.shape, x, y))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A waypoint patrols must visit at least every `revisit_s` seconds."""

    id: str
    waypoint: str
    revisit_s: float
    priority: int


@dataclass(frozen=True, slots=True)
class Camera:
    """A fixed camera; `heading` is a compass bearing in degrees (0 north, 90 east)."""

    id: str
    x: float
    y: float
    heading: float
    fov: float
    range: float
    stream_url: str
    image_size: tuple[int, int]
    homography: Homography

    def image_to_ground(self, u: float, v: float) -> Point:
        """Local ground point seen at pixel (u, v)."""
        return self.homography.image_to_ground(u, v)

    def ground_to_image(self, x: float, y: float) -> Point:
        """Pixel at which local ground point (x, y) appears."""
        return self.homography.ground_to_image(x, y)

    def fov_polygon(self, steps: int = 16) -> tuple[Point, ...]:
        """The field-of-view cone (sector of radius `range`) as a local polygon."""
        points: list[Point] = [(self.x, self.y)]
        for i in range(steps + 1):
            bearing = math.radians(self.heading - self.fov / 2 + self.fov * i / steps)
            points.append((self.x + self.range * math.sin(bearing), self.y + self.range * math.cos(bearing)))
        return tuple(points)


@dataclass(frozen=True, slots=True)
class Sensor:
    """An IoT sensor; `id` is its Zigbee2MQTT friendly name (topic ``zigbee2mqtt/<id>``)."""

    id: str
    kind: SensorKind
    x: float
    y: float
    zone: str | None


@dataclass(frozen=True, slots=True)
class Charger:
    """A robot charging dock reached at waypoint `waypoint`."""

    id: str
    waypoint: str
    capacity: int
    x: float
    y: float


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().casefold())


@dataclass(frozen=True, eq=False)
class Park:
    """A validated park. Build with `maps.load_park`; never mutated. Compared and hashed by identity."""

    id: str
    name: str
    name_zh: str
    origin: LatLon
    timezone: str
    frame: LocalFrame = field(repr=False)
    waypoints: Mapping[str, Waypoint] = field(repr=False)
    paths: Mapping[str, Path] = field(repr=False)
    pois: Mapping[str, Poi] = field(repr=False)
    zones: Mapping[str, Zone] = field(repr=False)
    checkpoints: Mapping[str, Checkpoint] = field(repr=False)
    cameras: Mapping[str, Camera] = field(repr=False)
    sensors: Mapping[str, Sensor] = field(repr=False)
    chargers: Mapping[str, Charger] = field(repr=False)
    boundary: tuple[Point, ...] = field(repr=False)
    geojson_text: str = field(repr=False, compare=False)
    margin: float = 30.0
    _area: Polygon = field(init=False, repr=False, compare=False)
    _area_index: AreaIndex | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if len(self.boundary) >= 3:
            area = Polygon(self.boundary)
        else:
            area = shapely.MultiPoint([(w.x, w.y) for w in self.waypoints.values()]).convex_hull
        object.__setattr__(self, "_area", area.buffer(self.margin))

    def geojson(self) -> dict[str, Any]:
        """A fresh copy of the file's GeoJSON FeatureCollection (WGS84), e.g. for the web console."""
        return copy.deepcopy(json.loads(self.geojson_text))

    def to_local(self, lat: float, lon: float) -> Point:
        """Local (x, y) metres of a WGS84 position."""
        return self.frame.to_local(lat, lon)

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """WGS84 (lat, lon) of a local point."""
        return self.frame.to_wgs84(x, y)

    def contains(self, x: float, y: float) -> bool:
        """Whether (x, y) is inside the park (its boundary, or the waypoints' hull) plus `margin` metres.

        Hot (every robot position the service ingests): answered from a grid built on first use.
        """
        index = self._area_index
        if index is None:
            index = AreaIndex(self._area)
            object.__setattr__(self, "_area_index", index)
        return index.contains(x, y)

    def zones_at(self, x: float, y: float, when: datetime | None = None) -> tuple[Zone, ...]:
        """Zones containing (x, y), highest priority first; only those in force at `when` if given."""
        found = [z for z in self.zones.values() if z.contains(x, y) and (when is None or z.active_at(when))]
        return tuple(sorted(found, key=lambda z: -z.priority))

    def nearest_waypoint(self, x: float, y: float) -> Waypoint:
        """The waypoint closest (straight line) to (x, y)."""
        return min(self.waypoints.values(), key=lambda w: (w.x - x) ** 2 + (w.y - y) ** 2)

    def find_poi(self, text: str) -> Poi | None:
        """The POI whose id, Chinese or English name or an alias matches `text` (case/space-insensitive)."""
        key = _norm(text)
        if not key:
            return None
        for poi in self.pois.values():
            names = (poi.id, poi.name_zh, poi.name_en, *poi.aliases)
            if any(_norm(name) == key for name in names):
                return poi
        return None

    def summary(self) -> str:
        """One line with feature counts."""
        return (
            f"{self.name} ({self.name_zh}): {len(self.waypoints)} waypoints, {len(self.paths)} paths, "
            f"{len(self.pois)} POIs, {len(self.zones)} zones, {len(self.checkpoints)} checkpoints, "
            f"{len(self.cameras)} cameras, {len(self.sensors)} sensors, {len(self.chargers)} chargers"
        )
