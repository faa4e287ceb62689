"""Image <-> ground mapping: fixed cameras by a 3x3 homography, robot cameras from their pose.

Ground coordinates are the park map's metric local frame (metres, x east, y north).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Matrix = npt.NDArray[np.float64]


class GeometryError(ValueError):
    """A homography or camera description cannot be used."""


@dataclass(frozen=True)
class Homography:
    """Plane-to-plane mapping from image pixels to ground metres (and back)."""

    image_to_ground: Matrix

    @classmethod
    def from_matrix(cls, matrix: Sequence[Sequence[float]] | Matrix) -> Homography:
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (3, 3) or not np.isfinite(m).all():
            raise GeometryError(f"homography must be a finite 3x3 matrix, got shape {m.shape}")
        if abs(np.linalg.det(m)) < 1e-12:
            raise GeometryError("homography is singular (determinant ~ 0); recalibrate the camera")
        return cls(m)

    @classmethod
    def from_points(cls, image_pts: Sequence[Point], ground_pts: Sequence[Point]) -> Homography:
        """Fit from >= 4 image/ground point pairs (e.g. clicked corners of a known rectangle)."""
        import cv2

        if len(image_pts) < 4 or len(image_pts) != len(ground_pts):
            raise GeometryError("need at least 4 matching image/ground points to fit a homography")
        m, _ = cv2.findHomography(np.asarray(image_pts, np.float64), np.asarray(ground_pts, np.float64))
        if m is None:
            raise GeometryError("points are degenerate (collinear?); pick 4 spread-out points")
        return cls.from_matrix(np.asarray(m, dtype=np.float64))

    def to_ground(self, u: float, v: float) -> Point | None:
        """Ground point of pixel (u, v), or None when the pixel lies above the horizon."""
        x, y, w = self.image_to_ground @ np.array([u, v, 1.0])
        if w <= 1e-9:
            return None
        return (float(x / w), float(y / w))

    def to_image(self, x: float, y: float) -> Point | None:
        u, v, w = np.linalg.inv(self.image_to_ground) @ np.array([x, y, 1.0])
        if abs(w) <= 1e-9:
            return None
        return (float(u / w), float(v / w))


@dataclass(frozen=True)
class RobotCamera:
    """A camera on a robot: mounting and optics, for the ground-plane approximation."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 90.0
    mount_height: float = 0.5
    pitch_deg: float = 10.0
    """Downward tilt of the optical axis below the horizontal."""
    heading_deg: float = 0.0
    """Yaw of the camera relative to the robot's forward direction (counter-clockwise)."""

    def homography(self, x: float, y: float, theta: float) -> Homography:
        """Image->ground mapping for the robot at map pose (x, y, theta radians)."""
        f = (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        k = np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1.0]])
        yaw = theta + math.radians(self.heading_deg)
        pitch = math.radians(self.pitch_deg)
        # camera axes in the world: forward (optical axis), right, down
        fwd = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), -math.sin(pitch)])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(fwd, right)
        r = np.vstack([right, down, fwd])  # world -> camera rotation
        c = np.array([x, y, self.mount_height])
        t = -r @ c
        ground_to_image = k @ np.column_stack([r[:, 0], r[:, 1], t])
        return Homography.from_matrix(np.linalg.inv(ground_to_image))


def point_in_polygon(pt: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule; points on an edge may fall either way."""
    x, y = pt
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xi:
                inside = not inside
    return inside
