"""Load a park GeoJSON file into an immutable `Park`, reporting every problem at once.

`load_park(path)` reads, parses and validates; on any problem it raises `MapError`
whose `.problems` lists all of them (feature index, id, property, reason).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FsPath
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from maps import checks
from maps.camera import Homography
from maps.errors import MapError, Problem
from maps.geo import LatLon, LocalFrame, valid_lon_lat
from maps.model import Camera, Charger, Checkpoint, Park, Path, Poi, Sensor, Waypoint, Zone
from maps.schedule import WeeklySchedule
from maps.schema import (
    GEOMETRY,
    PROPS,
    CameraProps,
    ChargerProps,
    CheckpointProps,
    ParkMeta,
    PathProps,
    PoiProps,
    SensorProps,
    WaypointProps,
    ZoneProps,
    strip_style,
)

MAX_EXTENT_M = 20_000.0
"""Every coordinate must lie within this distance of the park origin (catches swapped lat/lon)."""
PATH_END_TOLERANCE_M = 1.0
"""A path's first/last vertex must be this close to its `from`/`to` waypoint."""
ATTACH_TOLERANCE_M = 25.0
"""Checkpoints and chargers must be this close to the waypoint they name."""

Point = tuple[float, float]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Feature:
    index: int
    kind: str
    props: Any
    points: tuple[Point, ...]  # local metres: the point, the line, or the outer ring (closed)
    geometry_type: str


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, reason: str, index: int | None = None, fid: str | None = None, prop: str | None = None) -> None:
        self.items.append(Problem(reason=reason, index=index, feature_id=fid, property=prop))


def load_park(path: str | os.PathLike[str]) -> Park:
    """Read and validate the park GeoJSON at `path`; raises `MapError` listing every problem."""
    source = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MapError(source, [Problem("file not found; check the path")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MapError(source, [Problem(f"cannot read the file as UTF-8 text: {exc}")]) from None
    return parse_park(text, source=source)


def parse_park(text: str, source: str = "<string>") -> Park:
    """Validate GeoJSON `text` into a `Park`; `source` names it in errors."""
    problems = _Problems()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        raise MapError(source, problems.items) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        problems.add("the file must be a GeoJSON FeatureCollection ({'type': 'FeatureCollection', ...})")
        raise MapError(source, problems.items)
    raw_features = doc.get("features")
    if not isinstance(raw_features, list):
        problems.add("'features' must be a list of GeoJSON features", prop="features")
        raise MapError(source, problems.items)

    meta = _validate(ParkMeta, doc.get("park"), problems, None, None, prefix="park.")
    if not isinstance(doc.get("park"), dict):
        problems.add(
            "missing or non-object 'park' member: {'id', 'name_en', 'name_zh', 'origin': [lat, lon]}", prop="park"
        )
    origin = _origin(meta, raw_features)
    if origin is None:
        problems.add("no park origin and no valid point to fall back on", prop="park.origin")
        raise MapError(source, problems.items)
    frame = LocalFrame(origin)
    timezone = meta.timezone if meta is not None else "Asia/Shanghai"
    try:
        WeeklySchedule.parse("24/7", timezone)
    except ValueError as exc:
        problems.add(str(exc), prop="park.timezone")
        timezone = "Asia/Shanghai"

    features = [f for i, raw in enumerate(raw_features) if (f := _read_feature(i, raw, frame, problems))]
    park = _build(doc, text, meta, origin, frame, timezone, features, problems)
    if problems.items or park is None:
        raise MapError(source, problems.items)
    return park


def _validate(
    model: type[M], value: object, problems: _Problems, index: int | None, fid: str | None, prefix: str = ""
) -> M | None:
    if not isinstance(value, dict):
        return None
    try:
        return model.model_validate_json(json.dumps(value))
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"])
            given = f" (got {err['input']!r})" if err["type"] != "missing" and "input" in err else ""
            problems.add(f"{err['msg']}{given}", index, fid, prefix + loc if loc else prefix.rstrip("."))
        return None


def _origin(meta: ParkMeta | None, raw_features: list[Any]) -> LatLon | None:
    if meta is not None and valid_lon_lat((meta.origin[1], meta.origin[0])) is not None:
        return LatLon(meta.origin[0], meta.origin[1])
    for raw in raw_features:
        geometry = raw.get("geometry") if isinstance(raw, dict) else None
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            lonlat = valid_lon_lat(geometry.get("coordinates"))
            if lonlat is not None:
                return LatLon(lonlat[1], lonlat[0])
    return None


def _read_feature(index: int, raw: object, frame: LocalFrame, problems: _Problems) -> _Feature | None:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problems.add("not a GeoJSON Feature ({'type': 'Feature', 'geometry': ..., 'properties': ...})", index)
        return None
    properties = raw.get("properties")
    if not isinstance(properties, dict):
        problems.add("feature has no 'properties' object", index, prop="properties")
        return None
    raw_id = properties.get("id")
    fid = raw_id if isinstance(raw_id, str) else None
    kind = properties.get("type")
    if not isinstance(kind, str) or kind not in PROPS:
        problems.add(f"unknown feature type {kind!r}; expected one of {sorted(PROPS)}", index, fid, "type")
        return None
    props = _validate(PROPS[kind], strip_style(properties), problems, index, fid)
    points = _read_geometry(index, fid, kind, raw.get("geometry"), frame, problems)
    if props is None or points is None:
        return None
    geometry_type = raw["geometry"]["type"]
    return _Feature(index, kind, props, points, geometry_type)


def _read_geometry(
    index: int, fid: str | None, kind: str, geometry: object, frame: LocalFrame, problems: _Problems
) -> tuple[Point, ...] | None:
    allowed = GEOMETRY[kind]
    if not isinstance(geometry, dict) or geometry.get("type") not in allowed:
        got = geometry.get("type") if isinstance(geometry, dict) else geometry
        problems.add(f"a {kind} needs a {' or '.join(allowed)} geometry, got {got!r}", index, fid, "geometry")
        return None
    gtype = geometry["type"]
    coords = geometry.get("coordinates")
    if gtype == "Point":
        positions: object = [coords]
    elif gtype == "LineString":
        positions = coords
    else:
        if not isinstance(coords, list) or len(coords) != 1:
            problems.add("a polygon needs exactly one ring (holes are not supported)", index, fid, "geometry")
            return None
        positions = coords[0]
    if not isinstance(positions, list) or not positions:
        problems.add("coordinates are missing or not a list", index, fid, "geometry")
        return None
    local: list[Point] = []
    for k, position in enumerate(positions):
        lonlat = valid_lon_lat(position)
        if lonlat is None:
            hint = ""
            if isinstance(position, list) and len(position) >= 2 and valid_lon_lat(position[1::-1]):
                hint = " (GeoJSON order is [lon, lat]; are they swapped?)"
            problems.add(f"position {k} {position!r} is not [lon, lat] in range{hint}", index, fid, "geometry")
            return None
        x, y = frame.to_local(lonlat[1], lonlat[0])
        distance = math.hypot(x, y)
        if not distance <= MAX_EXTENT_M:
            problems.add(
                f"position {k} [{lonlat[0]}, {lonlat[1]}] is {distance / 1000:.1f} km from the park origin "
                "(GeoJSON order is [lon, lat]; are they swapped?)",
                index, fid, "geometry",
            )
            return None
        local.append((x, y))
    if gtype == "LineString" and len(local) < 2:
        problems.add("a path line needs at least 2 positions", index, fid, "geometry")
        return None
    if gtype == "Polygon":
        if len(positions) < 4 or list(positions[0][:2]) != list(positions[-1][:2]):
            problems.add(
                "polygon ring does not close: it needs >= 4 positions and the last must equal the first",
                index, fid, "geometry",
            )
            return None
        shape = Polygon(local)
        if not shape.is_valid:
            problems.add(f"polygon is invalid: {explain_validity(shape)}", index, fid, "geometry")
            return None
    return tuple(local)


def _build(
    doc: dict[str, Any],
    text: str,
    meta: ParkMeta | None,
    origin: LatLon,
    frame: LocalFrame,
    timezone: str,
    features: list[_Feature],
    problems: _Problems,
) -> Park | None:
    declared = _declared_ids(doc)
    seen: dict[tuple[str, str], int] = {}
    unique: list[_Feature] = []
    for f in features:
        key = (f.kind, f.props.id)
        if key in seen:
            problems.add(f"duplicate {f.kind} id (first used by feature #{seen[key]})", f.index, f.props.id, "id")
        else:
            seen[key] = f.index
            unique.append(f)

    def of(kind: str) -> list[_Feature]:
        return [f for f in unique if f.kind == kind]

    def add(f: _Feature, reason: str, prop: str | None) -> None:
        problems.add(reason, f.index, f.props.id, prop)

    waypoints = {f.props.id: _waypoint(f, frame) for f in of("waypoint")}
    bad_wp = declared.get("waypoint", set()) - set(waypoints)  # broken themselves: reported already
    paths = _collect(of("path"), lambda f: _path(f, waypoints, bad_wp, add))
    zones = _collect(of("zone"), lambda f: _zone(f, timezone, add))
    bad_zones = declared.get("zone", set()) - set(zones)
    pois = _collect(of("poi"), lambda f: _poi(f, waypoints, bad_wp, timezone, add))
    checkpoints = _collect(of("checkpoint"), lambda f: _checkpoint(f, waypoints, bad_wp, add))
    chargers = _collect(of("charger"), lambda f: _charger(f, waypoints, bad_wp, add))
    sensors = _collect(of("sensor"), lambda f: _sensor(f, zones, bad_zones, add))
    cameras = _collect(of("camera"), lambda f: _camera(f, frame, add))
    boundaries = of("boundary")
    for extra in boundaries[1:]:
        add(extra, f"only one boundary is allowed (feature #{boundaries[0].index} is one)", "type")
    if not waypoints:
        problems.add("the park has no waypoints; routing needs at least one", prop="features")

    index_of = {(f.kind, f.props.id): f.index for f in unique}
    broken = {
        str(end) for f in of("path") if f.props.id not in paths for end in (f.props.from_, f.props.to)
    }
    problems.items.extend(checks.check_graph(waypoints, paths, pois, index_of, broken))
    problems.items.extend(checks.check_cameras(cameras, paths, zones, pois, index_of))
    if problems.items or meta is None:
        return None
    return Park(
        id=meta.id,
        name=meta.name_en,
        name_zh=meta.name_zh,
        origin=origin,
        timezone=timezone,
        frame=frame,
        waypoints=MappingProxyType(waypoints),
        paths=MappingProxyType(paths),
        pois=MappingProxyType(pois),
        zones=MappingProxyType(zones),
        checkpoints=MappingProxyType(checkpoints),
        cameras=MappingProxyType(cameras),
        sensors=MappingProxyType(sensors),
        chargers=MappingProxyType(chargers),
        boundary=boundaries[0].points if boundaries else (),
        geojson_text=text,
    )


def _declared_ids(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Ids per feature type as written in the file, valid or not (to avoid reporting one mistake twice)."""
    declared: dict[str, set[str]] = {}
    for raw in doc["features"]:
        props = raw.get("properties") if isinstance(raw, dict) else None
        if isinstance(props, dict) and isinstance(props.get("type"), str) and isinstance(props.get("id"), str):
            declared.setdefault(props["type"], set()).add(props["id"])
    return declared


T = TypeVar("T")
AddProblem = Callable[[_Feature, str, str | None], None]


def _collect(features: list[_Feature], build: Callable[[_Feature], T | None]) -> dict[str, T]:
    out: dict[str, T] = {}
    for f in features:
        built = build(f)
        if built is not None:
            out[f.props.id] = built
    return out


def _waypoint(f: _Feature, frame: LocalFrame) -> Waypoint:
    p: WaypointProps = f.props
    x, y = f.points[0]
    lat, lon = frame.to_wgs84(x, y)
    return Waypoint(p.id, x, y, lat, lon, p.name)


def _path(f: _Feature, waypoints: dict[str, Waypoint], broken: set[str], add: AddProblem) -> Path | None:
    p: PathProps = f.props
    ok = True
    for prop, wid, end in (("from", p.from_, f.points[0]), ("to", p.to, f.points[-1])):
        wp = waypoints.get(wid)
        if wp is None:
            if wid not in broken:
                add(f, f"dangling path end: unknown waypoint {wid!r}", prop)
            ok = False
            continue
        gap = math.dist(end, (wp.x, wp.y))
        if gap > PATH_END_TOLERANCE_M:
            which = "starts" if prop == "from" else "ends"
            add(f, f"dangling path end: the line {which} {gap:.1f} m from waypoint {wid!r} "
                   f"(tolerance {PATH_END_TOLERANCE_M:g} m)", prop)
            ok = False
    if ok and p.from_ == p.to:
        add(f, "a path must join two different waypoints", "to")
        ok = False
    if not ok:
        return None
    a, b = waypoints[p.from_], waypoints[p.to]
    line = ((a.x, a.y), *f.points[1:-1], (b.x, b.y))
    length = sum(math.dist(line[i], line[i + 1]) for i in range(len(line) - 1))
    return Path(p.id, p.from_, p.to, length, p.width, p.bidirectional, p.stairs, p.slope, p.max_speed, line)


def _schedule(f: _Feature, text: str, timezone: str, prop: str, add: AddProblem) -> WeeklySchedule | None:
    try:
        return WeeklySchedule.parse(text, timezone)
    except ValueError as exc:
        add(f, f"{exc}", prop)
        return None


def _zone(f: _Feature, timezone: str, add: AddProblem) -> Zone | None:
    p: ZoneProps = f.props
    schedule = _schedule(f, p.schedule, timezone, "schedule", add)
    if schedule is None:
        return None
    return Zone(p.id, p.name_zh, p.name_en, p.kind, schedule, p.priority, f.points, Polygon(f.points))


def _poi(
    f: _Feature, waypoints: dict[str, Waypoint], broken: set[str], timezone: str, add: AddProblem
) -> Poi | None:
    p: PoiProps = f.props
    hours = _schedule(f, p.opening_hours, timezone, "opening_hours", add)
    if p.entrance not in waypoints:
        if p.entrance not in broken:
            add(f, f"POI entrance {p.entrance!r} is not a waypoint on the graph", "entrance")
        return None
    if hours is None:
        return None
    if f.geometry_type == "Polygon":
        centre = Polygon(f.points).representative_point()
        x, y, footprint = float(centre.x), float(centre.y), f.points
    else:
        (x, y), footprint = f.points[0], ()
    return Poi(p.id, p.name_zh, p.name_en, tuple(p.aliases), p.category, hours, p.entrance, p.description,
               x, y, footprint)


def _attached(f: _Feature, waypoints: dict[str, Waypoint], broken: set[str], wid: str, add: AddProblem) -> bool:
    wp = waypoints.get(wid)
    if wp is None:
        if wid not in broken:
            add(f, f"unknown waypoint {wid!r}", "waypoint")
        return False
    gap = math.dist(f.points[0], (wp.x, wp.y))
    if gap > ATTACH_TOLERANCE_M:
        add(f, f"{gap:.1f} m from its waypoint {wid!r} (at most {ATTACH_TOLERANCE_M:g} m)", "geometry")
        return False
    return True


def _checkpoint(f: _Feature, waypoints: dict[str, Waypoint], broken: set[str], add: AddProblem) -> Checkpoint | None:
    p: CheckpointProps = f.props
    if not _attached(f, waypoints, broken, p.waypoint, add):
        return None
    return Checkpoint(p.id, p.waypoint, p.revisit_s, p.priority)


def _charger(f: _Feature, waypoints: dict[str, Waypoint], broken: set[str], add: AddProblem) -> Charger | None:
    p: ChargerProps = f.props
    if not _attached(f, waypoints, broken, p.waypoint, add):
        return None
    return Charger(p.id, p.waypoint, p.capacity, *f.points[0])


def _sensor(f: _Feature, zones: dict[str, Zone], broken: set[str], add: AddProblem) -> Sensor | None:
    p: SensorProps = f.props
    if p.zone is not None and p.zone not in zones:
        if p.zone not in broken:
            add(f, f"unknown zone {p.zone!r}", "zone")
        return None
    return Sensor(p.id, p.kind, f.points[0][0], f.points[0][1], p.zone)


def _camera(f: _Feature, frame: LocalFrame, add: AddProblem) -> Camera | None:
    p: CameraProps = f.props
    width, height = p.image_size
    ok = True
    for k, (u, v) in enumerate(p.image_points):
        if not (0 <= u <= width and 0 <= v <= height):
            add(f, f"image point {k} ({u:g}, {v:g}) is outside the {width}x{height} image", f"image_points.{k}")
            ok = False
    ground: list[Point] = []
    for k, position in enumerate(p.ground_points):
        lonlat = valid_lon_lat(list(position))
        if lonlat is None:
            add(f, f"ground point {k} {list(position)} is not [lon, lat] in range", f"ground_points.{k}")
            return None
        ground.append(frame.to_local(lonlat[1], lonlat[0]))
    if not ok:
        return None
    try:
        homography = Homography.from_points(tuple(p.image_points), tuple(ground))
    except ValueError as exc:
        add(f, f"bad image-to-ground mapping: {exc}", "image_points")
        return None
    x, y = f.points[0]
    return Camera(p.id, x, y, p.heading, p.fov, p.range, p.stream_url, (width, height), homography)
