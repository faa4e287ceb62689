"""A small helper to write park GeoJSON from local-metre coordinates (used by the generators).

Waypoints are keyed by id and by position, so roads that cross share one waypoint. Cameras
get a realistic image->ground mapping from a pinhole model (mount height, pitch, field of view).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

from maps.geo import LatLon, LocalFrame

Point = tuple[float, float]
IMAGE_POINTS: tuple[Point, Point, Point, Point] = ((40.0, 470.0), (600.0, 470.0), (600.0, 200.0), (40.0, 200.0))


def pinhole_ground(
    cam: Point, heading: float, height: float, pitch: float, fov: float, pixel: Point, size: tuple[int, int]
) -> Point:
    """Local ground point seen at `pixel` by a camera `height` m up, tilted `pitch` degrees down."""
    width, rows = size
    f = (width / 2) / math.tan(math.radians(fov / 2))
    a, b = (pixel[0] - width / 2) / f, (pixel[1] - rows / 2) / f
    s, c = math.sin(math.radians(heading)), math.cos(math.radians(heading))
    sp, cp = math.sin(math.radians(pitch)), math.cos(math.radians(pitch))
    forward = (s * cp, c * cp, -sp)
    right = (c, -s, 0.0)
    down = (-s * sp, -c * sp, -cp)
    ray = [forward[i] + a * right[i] + b * down[i] for i in range(3)]
    if ray[2] >= -1e-6:
        raise ValueError(f"pixel {pixel} looks above the horizon")
    t = height / -ray[2]
    return cam[0] + t * ray[0], cam[1] + t * ray[1]


class ParkBuilder:
    """Collects features in local metres and writes a WGS84 FeatureCollection."""

    def __init__(self, park_id: str, name_en: str, name_zh: str, origin: LatLon, description: str = "") -> None:
        self.frame = LocalFrame(origin)
        self.meta: dict[str, Any] = {
            "id": park_id, "name_en": name_en, "name_zh": name_zh,
            "origin": [origin.lat, origin.lon], "timezone": "Asia/Shanghai", "description": description,
        }
        self.features: list[dict[str, Any]] = []
        self.waypoints: dict[str, Point] = {}
        self._by_pos: dict[tuple[float, float], str] = {}
        self._edges: set[frozenset[str]] = set()

    def lonlat(self, p: Point) -> list[float]:
        lat, lon = self.frame.to_wgs84(p[0], p[1])
        return [round(lon, 9), round(lat, 9)]

    def _add(self, geometry: dict[str, Any], properties: dict[str, Any]) -> None:
        self.features.append({"type": "Feature", "geometry": geometry, "properties": properties})

    def _point(self, p: Point) -> dict[str, Any]:
        return {"type": "Point", "coordinates": self.lonlat(p)}

    def _polygon(self, ring: list[Point]) -> dict[str, Any]:
        coords = [self.lonlat(p) for p in ring]
        return {"type": "Polygon", "coordinates": [[*coords, coords[0]]]}

    def waypoint(self, wid: str, p: Point, name: str = "") -> str:
        """Add waypoint `wid` at p, or return the id of the waypoint already there."""
        key = (round(p[0], 3), round(p[1], 3))
        if key in self._by_pos:
            return self._by_pos[key]
        if wid in self.waypoints:
            raise ValueError(f"waypoint id {wid} used twice")
        self.waypoints[wid] = p
        self._by_pos[key] = wid
        props: dict[str, Any] = {"type": "waypoint", "id": wid}
        if name:
            props["name"] = name
        self._add(self._point(p), props)
        return wid

    def at(self, p: Point) -> str | None:
        return self._by_pos.get((round(p[0], 3), round(p[1], 3)))

    def path(self, a: str, b: str, via: tuple[Point, ...] = (), **props: Any) -> None:
        if frozenset((a, b)) in self._edges and not via and "id" not in props:
            return  # two roads sharing a stretch: one path
        self._edges.add(frozenset((a, b)))
        line = [self.waypoints[a], *via, self.waypoints[b]]
        pid = props.pop("id", f"p_{a}__{b}")
        self._add(
            {"type": "LineString", "coordinates": [self.lonlat(p) for p in line]},
            {"type": "path", "id": pid, "from": a, "to": b, **props},
        )

    def road(self, stops: list[str], **props: Any) -> None:
        """Paths between consecutive waypoints in `stops`."""
        for a, b in itertools.pairwise(stops):
            self.path(a, b, **props)

    def poi(self, pid: str, shape: Point | list[Point], entrance: str, **props: Any) -> None:
        geometry = self._point(shape) if isinstance(shape, tuple) else self._polygon(shape)
        self._add(geometry, {"type": "poi", "id": pid, "entrance": entrance, **props})

    def zone(self, zid: str, ring: list[Point], **props: Any) -> None:
        self._add(self._polygon(ring), {"type": "zone", "id": zid, **props})

    def boundary(self, bid: str, ring: list[Point], name: str) -> None:
        self._add(self._polygon(ring), {"type": "boundary", "id": bid, "name": name})

    def checkpoint(self, wid: str, revisit_s: float, priority: int) -> None:
        self._add(self._point(self.waypoints[wid]),
                  {"type": "checkpoint", "id": f"cp_{wid}", "waypoint": wid,
                   "revisit_s": revisit_s, "priority": priority})

    def sensor(self, sid: str, kind: str, p: Point, zone: str | None = None) -> None:
        props: dict[str, Any] = {"type": "sensor", "id": sid, "kind": kind}
        if zone is not None:
            props["zone"] = zone
        self._add(self._point(p), props)

    def charger(self, cid: str, p: Point, waypoint: str, capacity: int = 1) -> None:
        self._add(self._point(p), {"type": "charger", "id": cid, "waypoint": waypoint, "capacity": capacity})

    def camera(
        self, cid: str, p: Point, heading: float, *, height: float = 8.0, pitch: float = 20.0,
        fov: float = 90.0, range_m: float = 60.0, name: str = "",
    ) -> None:
        size = (640, 480)
        ground = [pinhole_ground(p, heading, height, pitch, fov, px, size) for px in IMAGE_POINTS]
        for g in ground:
            if math.dist(g, p) > range_m * 1.2:
                raise ValueError(f"camera {cid}: ground point {g} beyond range")
        self._add(self._point(p), {
            "type": "camera", "id": cid, "name": name, "heading": heading, "fov": fov, "range": range_m,
            "stream_url": f"http://127.0.0.1:8554/cameras/{cid}.mjpg", "image_size": list(size),
            "image_points": [list(px) for px in IMAGE_POINTS],
            "ground_points": [self.lonlat(g) for g in ground],
        })

    def collection(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "park": self.meta, "features": self.features}

    def write(self, path: Path) -> None:
        """One feature per line: small diffs when the generator changes."""
        head = json.dumps({"type": "FeatureCollection", "park": self.meta}, ensure_ascii=False)
        lines = [json.dumps(f, ensure_ascii=False) for f in self.features]
        text = head[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"
        path.write_text(text, encoding="utf-8")


def rect(cx: float, cy: float, w: float, h: float) -> list[Point]:
    """Counter-clockwise rectangle centred on (cx, cy)."""
    return [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]


def box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    """Counter-clockwise rectangle from its corners."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
