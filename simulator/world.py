"""What the simulator takes from a `maps.Park`: scenery for cameras, camera views, routes for people.

One adapter, so the rest of the simulator depends on a few plain values rather than on the
whole map model.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from maps import NoRouteError, Park, Router, resolve_place
from simulator.render import Building, CameraView, Scenery

Point = tuple[float, float]

_BUILDING_HEIGHT = {
    "office": 22.0, "residence": 30.0, "restricted facility": 14.0, "food": 8.0, "service": 12.0,
    "health": 9.0, "shop": 5.0, "education": 8.0, "utility": 6.0, "security": 5.0,
}
_BUILDING_COLOUR = {
    "office": (200, 205, 212), "residence": (170, 190, 215), "restricted facility": (185, 185, 180),
    "food": (150, 180, 210), "education": (120, 190, 230),
}


def scenery_from_park(park: Park) -> Scenery:
    """Paved paths and building blocks (POIs with footprints that are buildings)."""
    paths = tuple((tuple(p.polyline), max(1.0, p.width)) for p in park.paths.values())
    buildings = []
    for poi in park.pois.values():
        if len(poi.footprint) < 3 or poi.category not in _BUILDING_HEIGHT:
            continue
        ring = list(poi.footprint)
        if ring[0] == ring[-1]:
            ring = ring[:-1]
        buildings.append(Building(tuple(ring), _BUILDING_HEIGHT[poi.category],
                                  _BUILDING_COLOUR.get(poi.category, (190, 200, 210))))
    return Scenery(paths=paths, buildings=tuple(buildings))


def utc_offset_hours(park: Park, when: float | None = None) -> float:
    tz = ZoneInfo(park.timezone)
    moment = datetime.fromtimestamp(when if when is not None else 0.0, tz)
    offset = moment.utcoffset()
    return offset.total_seconds() / 3600.0 if offset is not None else 0.0


def camera_views(park: Park, scenery: Scenery | None = None, seed: int = 0) -> dict[str, CameraView]:
    """A `CameraView` for each fixed camera of the park, from its image-to-ground mapping."""
    scenery = scenery if scenery is not None else scenery_from_park(park)
    offset = utc_offset_hours(park)
    views: dict[str, CameraView] = {}
    for cam in park.cameras.values():
        inv = cam.homography.inverse
        matrix = (tuple(inv[0]), tuple(inv[1]), tuple(inv[2]))
        views[cam.id] = CameraView(
            cam.id, matrix,  # type: ignore[arg-type]
            width=cam.image_size[0], height=cam.image_size[1], position=(cam.x, cam.y),
            max_range_m=cam.range, scenery=scenery, seed=seed, utc_offset_h=offset, label=cam.id,
        )
    return views


def robot_camera_view(camera_id: str, x: float, y: float, theta: float, height_m: float,
                      scenery: Scenery, utc_offset_h: float) -> CameraView:
    """The forward-looking camera of a robot at a pose (theta: radians CCW from east)."""
    return CameraView.pinhole(camera_id, x, y, theta, height_m=height_m, pitch_deg=8.0, hfov_deg=75.0,
                              width=640, height=480, scenery=scenery, max_range_m=70.0,
                              utc_offset_h=utc_offset_h, label=camera_id, fixed=False)


@dataclass(frozen=True)
class Walk:
    """A polyline to walk, with the waypoints it passes."""

    polyline: tuple[Point, ...]
    waypoints: tuple[str, ...]

    @property
    def length(self) -> float:
        return sum(math.dist(a, b) for a, b in zip(self.polyline, self.polyline[1:], strict=False))


class Places:
    """Resolves scenario place names and plans walks on the park graph."""

    def __init__(self, park: Park) -> None:
        self.park = park
        self.router = Router(park)

    def point(self, place: str) -> Point:
        """A place: POI/waypoint id or name, `x,y` in metres (prefix `xy:`), or `lat,lon`."""
        if place.startswith("xy:"):
            xs, ys = place[3:].split(",", 1)
            return (float(xs), float(ys))
        wid = resolve_place(self.park, place)
        wp = self.park.waypoints[wid]
        return (wp.x, wp.y)

    def waypoint(self, place: str) -> str:
        if place.startswith("xy:"):
            x, y = self.point(place)
            return self.park.nearest_waypoint(x, y).id
        return resolve_place(self.park, place)

    def walk(self, places: list[str]) -> Walk:
        """Along the path network between named places; straight to and from `xy:` points."""
        if not places:
            raise ValueError("a walk needs at least one place")
        pts: list[Point] = [self.point(places[0])]
        wps: list[str] = [self.waypoint(places[0])]
        for a, b in itertools.pairwise(places):
            wa, wb = self.waypoint(a), self.waypoint(b)
            if wa != wb and not (a.startswith("xy:") or b.startswith("xy:")):  # 'xy:' points: go straight
                try:
                    route = self.router.route(wa, wb)
                    pts.extend(route.polyline)
                    wps.extend(route.waypoints[1:])
                except NoRouteError:
                    pass  # people climb over things robots cannot: walk straight
            pts.append(self.point(b))
            wps.append(wb)
        dedup = [pts[0]]
        for p in pts[1:]:
            if math.dist(p, dedup[-1]) > 1e-6:
                dedup.append(p)
        return Walk(tuple(dedup), tuple(wps))
