"""Walking routes for visitors, on the park map (maps.Router at walking pace).

A place is a POI (id, name or alias: routed from/to its entrance), a waypoint id, or
``lat,lon`` inside the park (snapped to the nearest waypoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from maps import NoRouteError, Park, Route, Router, resolve_place
from patrol.guide.knowledge import Lang

WALKING_SPEED = 1.1  # m/s, an unhurried visitor's pace
_COMPASS = (("北", "north"), ("东北", "north-east"), ("东", "east"), ("东南", "south-east"),
            ("南", "south"), ("西南", "south-west"), ("西", "west"), ("西北", "north-west"))


class PlaceError(LookupError):
    """A place could not be resolved or no walking route exists; the message says which and why."""


@dataclass(frozen=True, slots=True)
class GuideRoute:
    """A walking route to show on the kiosk map and to hand to the guide robot."""

    origin: str
    destination: str
    route: Route
    walking_s: float

    @property
    def metres(self) -> float:
        return self.route.metres

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.walking_s / 60.0 - 0.25))

    def to_json(self) -> dict[str, Any]:
        data = self.route.to_json()
        data.update(origin=self.origin, destination=self.destination, metres=round(self.metres, 1),
                    walking_s=round(self.walking_s, 1), walking_minutes=self.minutes)
        return data


class ParkRoutes:
    """Resolves places and plans walking routes on one park."""

    def __init__(self, park: Park, *, walking_speed: float = WALKING_SPEED) -> None:
        self.park = park
        self.walking_speed = walking_speed
        self._router = Router(park, speed=walking_speed)

    def waypoint(self, place: str) -> str:
        """Waypoint id for a place; PlaceError says what was wrong."""
        try:
            return resolve_place(self.park, place.strip())
        except NoRouteError as e:
            raise PlaceError(str(e)) from None

    def route(self, origin: str, destination: str) -> GuideRoute:
        """Walking route between two places (stairs allowed: visitors walk)."""
        start, goal = self.waypoint(origin), self.waypoint(destination)
        try:
            route = self._router.route(start, goal)
        except NoRouteError as e:
            raise PlaceError(str(e)) from None
        return GuideRoute(origin, destination, route, route.seconds)

    def robot_route(self, origin: str, destination: str, *, speed: float, no_stairs: bool = True) -> Route:
        """Route for the guide robot itself (no stairs by default)."""
        start, goal = self.waypoint(origin), self.waypoint(destination)
        try:
            return self._router.route(start, goal, speed=speed, no_stairs=no_stairs)
        except NoRouteError as e:
            raise PlaceError(str(e)) from None

    def direction(self, origin: str, poi_id: str, lang: Lang) -> str:
        """Compass direction (8 points) from a place to a POI, e.g. 'north-east' / '东北'."""
        wp = self.park.waypoints[self.waypoint(origin)]
        poi = self.park.pois[poi_id]
        bearing = math.degrees(math.atan2(poi.x - wp.x, poi.y - wp.y)) % 360.0
        zh, en = _COMPASS[int((bearing + 22.5) // 45) % 8]
        return zh if lang == "zh" else en

    def straight_metres(self, origin: str, poi_id: str) -> float:
        wp = self.park.waypoints[self.waypoint(origin)]
        poi = self.park.pois[poi_id]
        return math.hypot(poi.x - wp.x, poi.y - wp.y)

    def nearest_other_poi(self, poi_id: str, exclude: frozenset[str] = frozenset()) -> str | None:
        """The POI closest to `poi_id` (a landmark to mention), or None in a one-POI park."""
        poi = self.park.pois[poi_id]
        others = [p for p in self.park.pois.values() if p.id != poi_id and p.id not in exclude]
        if not others:
            return None
        return min(others, key=lambda p: (p.x - poi.x) ** 2 + (p.y - poi.y) ** 2).id
