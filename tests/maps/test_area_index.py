"""The park-area grid answers exactly as shapely does, edges and corners included."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import shapely
from shapely.geometry import Polygon

from maps import load_park, sample_park_path
from maps.area_index import AreaIndex


def _probe_points(area: Polygon, rnd: random.Random, n: int) -> list[tuple[float, float]]:
    minx, miny, maxx, maxy = area.bounds
    pts = [(rnd.uniform(minx - 20, maxx + 20), rnd.uniform(miny - 20, maxy + 20)) for _ in range(n)]
    ring = list(area.exterior.coords)
    pts += [(x, y) for x, y in ring]  # vertices lie on the boundary: inside for `intersects`
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        for t in (0.25, 0.5):  # on edges, and a hair either side of them
            x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            pts += [(x, y), (math.nextafter(x, math.inf), y), (math.nextafter(x, -math.inf), y),
                    (x, math.nextafter(y, math.inf)), (x, math.nextafter(y, -math.inf))]
    pts += [(minx, miny), (maxx, maxy), (minx, maxy), (maxx, miny)]
    return pts


@pytest.mark.parametrize("area", [
    load_park(sample_park_path())._area,
    Polygon([(0, 0), (100, 0), (100, 100), (50, 5), (0, 100)]),  # concave: a deep notch
    shapely.box(-1e-3, -1e-3, 1e-3, 1e-3),                       # tiny
])
def test_grid_answers_as_shapely(area: Polygon) -> None:
    index = AreaIndex(area)
    pts = _probe_points(area, random.Random(7), 20_000)
    wrong = [(x, y) for x, y in pts if index.contains(x, y) != bool(shapely.intersects_xy(area, x, y))]
    assert not wrong, f"{len(wrong)} points disagree, e.g. {wrong[:3]}"
    assert index.edge_cells < 128 * 128 // 4  # most cells answer without shapely


def test_non_finite_points_are_outside() -> None:
    index = AreaIndex(shapely.box(0, 0, 10, 10))
    for x, y in ((math.nan, 1), (1, math.inf), (-math.inf, 1)):
        assert not index.contains(x, y)
