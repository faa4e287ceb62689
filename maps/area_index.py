"""Point-in-area tests for hot paths: a grid that answers most points without a shapely call.

Why: the service checks every robot position it ingests against the park area. One
`shapely.intersects_xy` call costs a few microseconds, and it releases the GIL, so on a busy
service the event loop then waits for the MQTT network thread to hand the GIL back (up to the
interpreter's switch interval, 5 ms) — per message.

The grid covers the area's bounds. A cell whose box, grown by a small guard band, lies wholly
inside the area answers "inside"; one whose grown box misses the area answers "outside"; only
points in cells crossed by the area's edge go to shapely. Answers are exactly shapely's: the
guard band (well above float rounding in the cell arithmetic) keeps a point that lands in a
neighbouring cell from being misjudged.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

_OUTSIDE, _INSIDE, _EDGE = 0, 1, 2


class AreaIndex:
    """`contains(x, y)` == `shapely.intersects_xy(area, x, y)` for finite x, y (closed area)."""

    def __init__(self, area: BaseGeometry, cells: int = 128) -> None:
        self.area = area
        minx, miny, maxx, maxy = area.bounds
        span = max(maxx - minx, maxy - miny, 1e-9)
        guard = span * 1e-7  # metres for a park: far above the ~1e-12 m error of the index arithmetic
        self._x0, self._y0 = minx - guard, miny - guard
        self._n = cells
        self._cw = (maxx - minx + 2 * guard) / cells
        self._ch = (maxy - miny + 2 * guard) / cells
        self._sx, self._sy = 1.0 / self._cw, 1.0 / self._ch
        i, j = np.meshgrid(np.arange(cells), np.arange(cells))
        x0 = self._x0 + i.ravel() * self._cw
        y0 = self._y0 + j.ravel() * self._ch
        boxes = shapely.box(x0 - guard, y0 - guard, x0 + self._cw + guard, y0 + self._ch + guard)
        shapely.prepare(area)
        kinds = np.full(boxes.shape, _EDGE, dtype=np.uint8)
        kinds[shapely.contains(area, boxes)] = _INSIDE
        kinds[shapely.disjoint(area, boxes)] = _OUTSIDE
        self._kinds = kinds.tobytes()  # row j, column i at j * cells + i
        self.edge_cells = int(np.count_nonzero(kinds == _EDGE))

    def contains(self, x: float, y: float) -> bool:
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        fi = (x - self._x0) * self._sx
        fj = (y - self._y0) * self._sy
        n = self._n
        if not (0.0 <= fi < n and 0.0 <= fj < n):
            return False  # outside the grid, which covers the area's bounds with the guard band to spare
        kind = self._kinds[int(fj) * n + int(fi)]
        if kind == _EDGE:
            return bool(shapely.intersects_xy(self.area, x, y))
        return kind == _INSIDE
