"""Routing on the park's path graph (networkx): fastest routes and distance matrices.

Travel time of a path = length / min(path.max_speed, robot speed), doubled on stairs.
Paths are excluded when they are closed at runtime (by id), cross a zone closed at
runtime, cross a no-go zone in force, or have stairs and the robot cannot climb them.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import networkx as nx
from shapely.geometry import LineString

from maps.model import Park

Point = tuple[float, float]
STAIRS_TIME_FACTOR = 2.0
DEFAULT_SPEED = 1.5
_LATLON = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


class NoRouteError(LookupError):
    """No route satisfies the constraints, or a place/waypoint is unknown."""


@dataclass(frozen=True, slots=True)
class Route:
    """A route: waypoints visited, paths taken, the line to follow (local and WGS84), metres, seconds."""

    waypoints: tuple[str, ...]
    paths: tuple[str, ...]
    polyline: tuple[Point, ...]
    latlon: tuple[tuple[float, float], ...]
    metres: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (lists, rounded to millimetres / 1e-7 degrees)."""
        return {
            "waypoints": list(self.waypoints),
            "paths": list(self.paths),
            "polyline": [[round(x, 3), round(y, 3)] for x, y in self.polyline],
            "latlon": [[round(lat, 7), round(lon, 7)] for lat, lon in self.latlon],
            "metres": round(self.metres, 3),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class DistanceMatrix:
    """Fastest-route metres and seconds between `ids` (math.inf where unreachable)."""

    ids: tuple[str, ...]
    metres: tuple[tuple[float, ...], ...]
    seconds: tuple[tuple[float, ...], ...]

    def metres_between(self, a: str, b: str) -> float:
        return self.metres[self.ids.index(a)][self.ids.index(b)]

    def seconds_between(self, a: str, b: str) -> float:
        return self.seconds[self.ids.index(a)][self.ids.index(b)]


class Router:
    """Routes on one park. Cheap to build; each query builds the graph its constraints allow."""

    def __init__(self, park: Park, *, speed: float = DEFAULT_SPEED) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.park = park
        self.speed = speed
        self._path_zones: dict[str, frozenset[str]] = {}
        for path in park.paths.values():
            line = LineString(path.polyline)
            self._path_zones[path.id] = frozenset(
                zone.id for zone in park.zones.values()
                if line.intersects(zone.shape) and not line.touches(zone.shape)
            )

    def path_zones(self, path_id: str) -> frozenset[str]:
        """Ids of the zones a path runs through."""
        return self._path_zones[path_id]

    def graph(
        self,
        *,
        closed_paths: Iterable[str] = (),
        closed_zones: Iterable[str] = (),
        no_stairs: bool = False,
        at: datetime | None = None,
        speed: float | None = None,
    ) -> nx.DiGraph:
        """Directed graph of usable paths; edge attrs `path`, `metres`, `seconds`."""
        closed_p = set(closed_paths)
        closed_z = set(closed_zones)
        unknown = (closed_p - set(self.park.paths)) | {f"zone {z}" for z in closed_z - set(self.park.zones)}
        if unknown:
            raise NoRouteError(f"cannot close unknown path/zone: {sorted(unknown)}")
        for zone in self.park.zones.values():
            if zone.kind == "no_go" and (at is None or zone.active_at(at)):
                closed_z.add(zone.id)
        robot_speed = self.speed if speed is None else speed
        g: nx.DiGraph = nx.DiGraph()
        g.add_nodes_from(self.park.waypoints)
        for path in self.park.paths.values():
            if path.id in closed_p or self._path_zones[path.id] & closed_z or (no_stairs and path.stairs):
                continue
            seconds = path.length / min(path.max_speed, robot_speed)
            if path.stairs:
                seconds *= STAIRS_TIME_FACTOR
            ends = [(path.a, path.b), (path.b, path.a)] if path.bidirectional else [(path.a, path.b)]
            for u, v in ends:
                if not g.has_edge(u, v) or g.edges[u, v]["seconds"] > seconds:
                    g.add_edge(u, v, path=path.id, metres=path.length, seconds=seconds)
        return g

    def route(
        self,
        start: str,
        goal: str,
        *,
        closed_paths: Iterable[str] = (),
        closed_zones: Iterable[str] = (),
        no_stairs: bool = False,
        at: datetime | None = None,
        speed: float | None = None,
    ) -> Route:
        """Fastest route between two waypoint ids; NoRouteError if none exists."""
        for wid in (start, goal):
            if wid not in self.park.waypoints:
                raise NoRouteError(f"unknown waypoint {wid!r}")
        g = self.graph(closed_paths=closed_paths, closed_zones=closed_zones, no_stairs=no_stairs, at=at,
                       speed=speed)
        try:
            nodes: list[str] = nx.dijkstra_path(g, start, goal, weight="seconds")
        except nx.NetworkXNoPath:
            raise NoRouteError(
                f"no route from {start!r} to {goal!r} with these closures and capabilities"
            ) from None
        return self._build(g, nodes)

    def distance_matrix(
        self,
        ids: Iterable[str] | None = None,
        *,
        closed_paths: Iterable[str] = (),
        closed_zones: Iterable[str] = (),
        no_stairs: bool = False,
        at: datetime | None = None,
        speed: float | None = None,
    ) -> DistanceMatrix:
        """Fastest-route metres/seconds between every pair of `ids` (default: all waypoints)."""
        wanted = tuple(self.park.waypoints if ids is None else ids)
        for wid in wanted:
            if wid not in self.park.waypoints:
                raise NoRouteError(f"unknown waypoint {wid!r}")
        g = self.graph(closed_paths=closed_paths, closed_zones=closed_zones, no_stairs=no_stairs, at=at,
                       speed=speed)
        metres: list[tuple[float, ...]] = []
        seconds: list[tuple[float, ...]] = []
        for source in wanted:
            times, routes = nx.single_source_dijkstra(g, source, weight="seconds")
            metres.append(tuple(
                sum(g.edges[u, v]["metres"] for u, v in zip(routes[t], routes[t][1:], strict=False))
                if t in routes else math.inf
                for t in wanted
            ))
            seconds.append(tuple(float(times.get(t, math.inf)) for t in wanted))
        return DistanceMatrix(wanted, tuple(metres), tuple(seconds))

    def _build(self, g: nx.DiGraph, nodes: list[str]) -> Route:
        first = self.park.waypoints[nodes[0]]
        polyline: list[Point] = [(first.x, first.y)]
        path_ids: list[str] = []
        metres = seconds = 0.0
        for u, v in itertools.pairwise(nodes):
            edge = g.edges[u, v]
            path = self.park.paths[edge["path"]]
            line = path.polyline if path.a == u else tuple(reversed(path.polyline))
            polyline.extend(line[1:])
            path_ids.append(path.id)
            metres += edge["metres"]
            seconds += edge["seconds"]
        latlon = tuple(self.park.to_wgs84(x, y) for x, y in polyline)
        return Route(tuple(nodes), tuple(path_ids), tuple(polyline), latlon, metres, seconds)


def resolve_place(park: Park, text: str) -> str:
    """Waypoint id for a POI (id, Chinese/English name, alias: its entrance), a waypoint id, or 'lat,lon'."""
    match = _LATLON.match(text)
    if match is not None:
        lat, lon = float(match.group(1)), float(match.group(2))
        x, y = park.to_local(lat, lon)
        if not park.contains(x, y):
            raise NoRouteError(f"position {lat},{lon} is outside the park {park.name!r}")
        return park.nearest_waypoint(x, y).id
    poi = park.find_poi(text)
    if poi is not None:
        return poi.entrance
    if text in park.waypoints:
        return text
    names = [n for p in park.pois.values() for n in (p.id, p.name_zh, p.name_en, *p.aliases)]
    close = difflib.get_close_matches(text, [*names, *park.waypoints], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise NoRouteError(f"unknown place {text!r}: not a POI name, alias, waypoint id or 'lat,lon'{hint}")
