"""Whole-map checks that need several features: graph connectivity, POI entrances, cameras."""

from __future__ import annotations

import math
from collections.abc import Mapping

import networkx as nx
from shapely.geometry import LineString, Point, Polygon

from maps.errors import Problem
from maps.model import Camera, Path, Poi, Waypoint, Zone

IndexOf = Mapping[tuple[str, str], int]
RANGE_SLACK = 1.25
"""Ground points may lie up to this factor beyond the camera's nominal range."""


def _problem(index_of: IndexOf, kind: str, fid: str, reason: str, prop: str | None = None) -> Problem:
    return Problem(reason=reason, index=index_of.get((kind, fid)), feature_id=fid, property=prop)


def _ids(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def check_graph(
    waypoints: Mapping[str, Waypoint],
    paths: Mapping[str, Path],
    pois: Mapping[str, Poi],
    index_of: IndexOf,
    broken: frozenset[str] | set[str] = frozenset(),
) -> list[Problem]:
    """Disconnected components, one-way traps, POI entrances off the main network.

    Components touching a waypoint in `broken` (named by a path that failed validation) are not
    reported: they are a consequence of that path's problem, reported already.
    """
    problems: list[Problem] = []
    if not waypoints:
        return problems
    order = {wid: i for i, wid in enumerate(waypoints)}
    undirected: nx.Graph = nx.Graph()
    undirected.add_nodes_from(waypoints)
    directed: nx.DiGraph = nx.DiGraph()
    directed.add_nodes_from(waypoints)
    for path in paths.values():
        undirected.add_edge(path.a, path.b)
        directed.add_edge(path.a, path.b)
        if path.bidirectional:
            directed.add_edge(path.b, path.a)
    components = sorted(
        (sorted(c, key=order.__getitem__) for c in nx.connected_components(undirected)),
        key=lambda c: (-len(c), order[c[0]]),
    )
    main = set(components[0])
    for component in components[1:]:
        if broken.intersection(component):
            continue
        problems.append(_problem(
            index_of, "waypoint", component[0],
            f"disconnected graph component: waypoint(s) {_ids(component)} cannot be reached from the main "
            f"network of {len(main)} waypoints; add a path joining them or remove them",
        ))
    if len(components) == 1 and not broken and not nx.is_strongly_connected(directed):
        strong = sorted(nx.strongly_connected_components(directed), key=len, reverse=True)
        for component in strong[1:]:
            members = sorted(component, key=order.__getitem__)
            problems.append(_problem(
                index_of, "waypoint", members[0],
                f"one-way paths trap robots: waypoint(s) {_ids(members)} cannot reach, or cannot be reached "
                "from, the rest of the network; make a path bidirectional",
            ))
    for poi in pois.values():
        if poi.entrance in waypoints and poi.entrance not in main:
            problems.append(_problem(
                index_of, "poi", poi.id,
                f"POI entrance {poi.entrance!r} is not on the main path network", "entrance",
            ))
    return problems


def _bearing(dx: float, dy: float) -> float:
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def check_cameras(
    cameras: Mapping[str, Camera],
    paths: Mapping[str, Path],
    zones: Mapping[str, Zone],
    pois: Mapping[str, Poi],
    index_of: IndexOf,
) -> list[Problem]:
    """Cameras whose mapping disagrees with their pose, or whose view covers nothing on the map."""
    problems: list[Problem] = []
    targets = [LineString(p.polyline) for p in paths.values()]
    targets += [z.shape for z in zones.values()]
    targets += [Polygon(p.footprint) if p.footprint else Point(p.x, p.y) for p in pois.values()]
    for cam in cameras.values():
        ground = cam.homography.ground_points
        for k, (gx, gy) in enumerate(ground):
            distance = math.dist((gx, gy), (cam.x, cam.y))
            if distance > cam.range * RANGE_SLACK:
                problems.append(_problem(
                    index_of, "camera", cam.id,
                    f"bad mapping: ground point {k} is {distance:.0f} m from the camera, beyond its range "
                    f"of {cam.range:g} m", f"ground_points.{k}",
                ))
        cx = sum(g[0] for g in ground) / 4
        cy = sum(g[1] for g in ground) / 4
        if math.dist((cx, cy), (cam.x, cam.y)) > 0.5 and cam.fov < 360.0:
            seen = _bearing(cx - cam.x, cy - cam.y)
            if _angle_between(seen, cam.heading) > cam.fov / 2:
                problems.append(_problem(
                    index_of, "camera", cam.id,
                    f"camera pointing nowhere: heading {cam.heading:g}° but its image shows ground at bearing "
                    f"{seen:.0f}° (outside the {cam.fov:g}° field of view); fix heading or ground_points",
                    "heading",
                ))
        cone = Polygon(cam.fov_polygon())
        if not any(cone.intersects(t) for t in targets):
            problems.append(_problem(
                index_of, "camera", cam.id,
                "camera pointing nowhere: its field of view covers no path, zone or POI", "heading",
            ))
    return problems
