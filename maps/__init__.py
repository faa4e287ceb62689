"""ParkPatrol park maps: GeoJSON in, immutable metric model out.

    from maps import load_park, sample_park_path
    park = load_park(sample_park_path())
    x, y = park.to_local(29.58, 105.06)
    route = Router(park).route("gate_north", "canteen")

See docs/MAPS.md for the file schema. Knows nothing of MQTT, HTTP or live robot state.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path as FsPath

from maps.camera import Homography
from maps.errors import MapError, Problem
from maps.geo import LatLon, LocalFrame
from maps.loader import load_park, parse_park
from maps.model import Camera, Charger, Checkpoint, Park, Path, Poi, Sensor, Waypoint, Zone
from maps.routing import DistanceMatrix, NoRouteError, Route, Router, resolve_place
from maps.schedule import WeeklySchedule

__all__ = [
    "Camera",
    "Charger",
    "Checkpoint",
    "DistanceMatrix",
    "Homography",
    "LatLon",
    "LocalFrame",
    "MapError",
    "NoRouteError",
    "Park",
    "Path",
    "Poi",
    "Problem",
    "Route",
    "Router",
    "Sensor",
    "Waypoint",
    "WeeklySchedule",
    "Zone",
    "load_park",
    "parse_park",
    "resolve_place",
    "sample_park_path",
    "test_park_path",
]


def _park_file(name: str) -> FsPath:
    resource = files("maps.parks").joinpath(name)
    with as_file(resource) as path:  # packages are installed unzipped; this is the file itself
        return FsPath(path)


def sample_park_path() -> FsPath:
    """The shipped sample park (a service-outsourcing park in Neijiang, Sichuan)."""
    return _park_file("neijiang.geojson")


def test_park_path() -> FsPath:
    """The small test park (a dozen waypoints) used by tests."""
    return _park_file("testpark.geojson")


test_park_path.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
