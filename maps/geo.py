"""The park's local metric frame: WGS84 <-> metres east/north of the park origin.

An azimuthal equidistant projection centred on the origin (pyproj, exact inverse): over a
park a few kilometres across, distances and angles in the local frame are true to well
under a millimetre per metre, and a round trip is exact to far below a centimetre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyproj import CRS, Transformer


@dataclass(frozen=True, slots=True)
class LatLon:
    """A WGS84 position in degrees."""

    lat: float
    lon: float


@dataclass(frozen=True)
class LocalFrame:
    """Metres east (x) and north (y) of `origin`."""

    origin: LatLon
    _forward: Transformer = field(init=False, repr=False, compare=False)
    _inverse: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (-90.0 < self.origin.lat < 90.0 and -180.0 <= self.origin.lon <= 180.0):
            raise ValueError(f"origin {self.origin} is not a valid WGS84 position")
        local = CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.origin.lat!r} +lon_0={self.origin.lon!r} "
            "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
        )
        wgs84 = CRS.from_epsg(4326)
        object.__setattr__(self, "_forward", Transformer.from_crs(wgs84, local, always_xy=True))
        object.__setattr__(self, "_inverse", Transformer.from_crs(local, wgs84, always_xy=True))

    def to_local(self, lat: float, lon: float) -> tuple[float, float]:
        """(x, y) in metres for a WGS84 latitude/longitude."""
        x, y = self._forward.transform(lon, lat)
        return float(x), float(y)

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """(lat, lon) in degrees for local metres."""
        lon, lat = self._inverse.transform(x, y)
        return float(lat), float(lon)


def valid_lon_lat(position: object) -> tuple[float, float] | None:
    """(lon, lat) from a GeoJSON position if it is two or three finite numbers in range, else None."""
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        return None
    values: list[float] = []
    for value in position[:2]:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        values.append(float(value))
    lon, lat = values
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return None
    return lon, lat
