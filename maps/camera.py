"""Image <-> ground plane mapping of a fixed camera (a planar homography).

The map gives four image points (pixels, origin top-left, v down) and the four ground
points they show; the homography between them maps any pixel on the ground plane (e.g. a
person's feet) to park metres and back. Solved exactly with a direct linear transform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def quad_problem(points: tuple[Point, ...], min_area: float) -> str | None:
    """Why four points cannot define a homography (None if they can): count, collinear triples, area."""
    if len(points) != 4:
        return f"needs exactly 4 points, got {len(points)}"
    for i in range(4):
        a, b, c = points[i], points[(i + 1) % 4], points[(i + 2) % 4]
        scale = max(math.dist(a, b), math.dist(b, c), 1e-9)
        if abs(_cross(a, b, c)) < 1e-3 * scale * scale:
            return f"points {i}, {(i + 1) % 4}, {(i + 2) % 4} are collinear"
    area = 0.5 * abs(sum(_cross((0.0, 0.0), points[i], points[(i + 1) % 4]) for i in range(4)))
    if area < min_area:
        return f"the quadrilateral is too small (area {area:.3g} < {min_area:g})"
    signs = {_cross(points[i], points[(i + 1) % 4], points[(i + 2) % 4]) > 0 for i in range(4)}
    if len(signs) != 1:
        return "the quadrilateral is not convex (list the corners in order around it)"
    return None


def _solve(src: tuple[Point, ...], dst: tuple[Point, ...]) -> np.ndarray:
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (u, v), (x, y) in zip(src, dst, strict=True):
        rows.append([u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x])
        rows.append([0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y])
        rhs.extend((x, y))
    h = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return np.append(h, 1.0).reshape(3, 3)


def _apply(matrix: tuple[tuple[float, ...], ...], p: Point) -> Point:
    m = matrix
    w = m[2][0] * p[0] + m[2][1] * p[1] + m[2][2]
    if abs(w) < 1e-12:
        raise ValueError(f"point {p} maps to infinity (it is on the horizon of the camera)")
    return (
        (m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w,
        (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w,
    )


@dataclass(frozen=True, slots=True)
class Homography:
    """Image pixels -> local ground metres (and the inverse)."""

    image_points: tuple[Point, Point, Point, Point]
    ground_points: tuple[Point, Point, Point, Point]
    matrix: tuple[tuple[float, ...], ...]
    inverse: tuple[tuple[float, ...], ...]

    @classmethod
    def from_points(cls, image_points: tuple[Point, ...], ground_points: tuple[Point, ...]) -> Homography:
        """Homography through four correspondences; ValueError if the points are degenerate."""
        for name, pts, min_area in (("image", image_points, 100.0), ("ground", ground_points, 1.0)):
            problem = quad_problem(pts, min_area)
            if problem is not None:
                raise ValueError(f"{name} points: {problem}")
        forward = _solve(image_points, ground_points)
        if abs(np.linalg.det(forward)) < 1e-15:
            raise ValueError("the mapping is singular")
        backward = np.linalg.inv(forward)
        backward = backward / backward[2, 2]
        image4 = (image_points[0], image_points[1], image_points[2], image_points[3])
        ground4 = (ground_points[0], ground_points[1], ground_points[2], ground_points[3])
        return cls(
            image4,
            ground4,
            tuple(tuple(float(v) for v in row) for row in forward),
            tuple(tuple(float(v) for v in row) for row in backward),
        )

    def image_to_ground(self, u: float, v: float) -> Point:
        """Local (x, y) metres of the ground point seen at pixel (u, v)."""
        return _apply(self.matrix, (u, v))

    def ground_to_image(self, x: float, y: float) -> Point:
        """Pixel (u, v) where the ground point (x, y) appears."""
        return _apply(self.inverse, (x, y))
