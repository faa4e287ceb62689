"""The parts of the park map alarms need: zones (schedule, polygon), sensors and cameras.

Typed structurally so that `maps.Park` fits without this package depending on the whole maps API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class ZoneLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def priority(self) -> int: ...
    def active_at(self, when: datetime) -> bool: ...
    def contains(self, x: float, y: float) -> bool: ...


class SensorLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def zone(self) -> str | None: ...


class CameraLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...


class ParkLike(Protocol):
    """What `maps.Park` offers and alarms use."""

    @property
    def zones(self) -> Mapping[str, ZoneLike]: ...
    @property
    def sensors(self) -> Mapping[str, SensorLike]: ...
    @property
    def cameras(self) -> Mapping[str, CameraLike]: ...

    def contains(self, x: float, y: float) -> bool: ...


def zone_at(park: ParkLike, x: float, y: float) -> str | None:
    """Id of the highest-priority zone containing (x, y), or None."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    found = [z for z in park.zones.values() if z.contains(x, y)]
    if not found:
        return None
    return max(found, key=lambda z: z.priority).id


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])
