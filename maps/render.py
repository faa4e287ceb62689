"""Draw a park as a PNG (OpenCV): paths, zones by kind, POIs labelled in English, cameras with
their field of view, sensors, chargers and checkpoints, with a legend and a 100 m scale bar."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from maps.model import Park

Colour = tuple[int, int, int]  # BGR
ZONE_COLOURS: dict[str, Colour] = {"restricted": (0, 140, 255), "no_go": (40, 40, 220), "after_hours": (200, 120, 40)}
SENSOR_COLOURS: dict[str, Colour] = {
    "door": (140, 60, 0), "pir": (160, 0, 160), "fence": (0, 100, 0), "smoke": (60, 60, 60),
    "water": (200, 160, 0), "tamper": (0, 0, 160),
}
PATH_COLOUR: Colour = (150, 150, 150)
STAIRS_COLOUR: Colour = (40, 80, 160)
CAMERA_COLOUR: Colour = (0, 200, 230)
FONT = cv2.FONT_HERSHEY_SIMPLEX
LEGEND_WIDTH = 190


class _Canvas:
    def __init__(self, park: Park, scale: float, pad: int = 60) -> None:
        xs, ys = _extent(park)
        self.scale, self.pad = scale, pad
        self.x0, self.y1 = min(xs), max(ys)
        width = int((max(xs) - self.x0) * scale) + 2 * pad + LEGEND_WIDTH
        height = int((self.y1 - min(ys)) * scale) + 2 * pad + 40
        self.img = np.full((height, width, 3), (236, 242, 236), dtype=np.uint8)

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round((x - self.x0) * self.scale + self.pad), round((self.y1 - y) * self.scale + self.pad + 40)

    def poly(self, points: Iterable[tuple[float, float]]) -> np.ndarray:
        return np.array([self.px(x, y) for x, y in points], dtype=np.int32)

    def fill(self, points: Iterable[tuple[float, float]], colour: Colour, alpha: float) -> None:
        overlay = self.img.copy()
        cv2.fillPoly(overlay, [self.poly(points)], colour)
        cv2.addWeighted(overlay, alpha, self.img, 1 - alpha, 0, dst=self.img)

    def text(self, label: str, at: tuple[int, int], size: float = 0.45, colour: Colour = (30, 30, 30)) -> None:
        (w, h), _ = cv2.getTextSize(label, FONT, size, 1)
        origin = (at[0] - w // 2, at[1] + h // 2)
        cv2.rectangle(self.img, (origin[0] - 2, origin[1] - h - 3), (origin[0] + w + 2, origin[1] + 4),
                      (255, 255, 255), -1)
        cv2.putText(self.img, label, origin, FONT, size, colour, 1, cv2.LINE_AA)


def _extent(park: Park) -> tuple[list[float], list[float]]:
    points = [(w.x, w.y) for w in park.waypoints.values()] + list(park.boundary)
    for cam in park.cameras.values():
        points.extend(cam.fov_polygon(4))
    return [p[0] for p in points], [p[1] for p in points]


def render_park(park: Park, scale: float = 2.0) -> np.ndarray:
    """BGR image of `park` at `scale` pixels per metre."""
    c = _Canvas(park, scale)
    if park.boundary:
        c.fill(park.boundary, (250, 252, 250), 1.0)
        cv2.polylines(c.img, [c.poly(park.boundary)], True, (60, 90, 60), 2, cv2.LINE_AA)
    for zone in park.zones.values():
        c.fill(zone.polygon, ZONE_COLOURS[zone.kind], 0.28)
        cv2.polylines(c.img, [c.poly(zone.polygon)], True, ZONE_COLOURS[zone.kind], 2, cv2.LINE_AA)
    for poi in park.pois.values():
        if poi.footprint:
            c.fill(poi.footprint, (205, 205, 210), 0.9)
            cv2.polylines(c.img, [c.poly(poi.footprint)], True, (90, 90, 100), 1, cv2.LINE_AA)
    for cam in park.cameras.values():
        c.fill(cam.fov_polygon(), CAMERA_COLOUR, 0.18)
    for path in park.paths.values():
        thickness = max(1, round(path.width * scale * 0.6))
        colour = STAIRS_COLOUR if path.stairs else PATH_COLOUR
        cv2.polylines(c.img, [c.poly(path.polyline)], False, colour, thickness, cv2.LINE_AA)
        if not path.bidirectional:
            (ax, ay), (bx, by) = path.polyline[-2], path.polyline[-1]
            cv2.arrowedLine(c.img, c.px((ax + bx) / 2, (ay + by) / 2), c.px(bx, by), (60, 60, 60), 1, tipLength=0.3)
    for wp in park.waypoints.values():
        cv2.circle(c.img, c.px(wp.x, wp.y), 2, (90, 90, 90), -1, cv2.LINE_AA)
    for cp in park.checkpoints.values():
        wp = park.waypoints[cp.waypoint]
        cv2.circle(c.img, c.px(wp.x, wp.y), 6, (0, 150, 0), 2, cv2.LINE_AA)
    for sensor in park.sensors.values():
        x, y = c.px(sensor.x, sensor.y)
        cv2.rectangle(c.img, (x - 3, y - 3), (x + 3, y + 3), SENSOR_COLOURS[sensor.kind], -1)
    for charger in park.chargers.values():
        x, y = c.px(charger.x, charger.y)
        cv2.rectangle(c.img, (x - 5, y - 5), (x + 5, y + 5), (0, 170, 0), -1)
        cv2.line(c.img, (x - 3, y), (x + 3, y), (255, 255, 255), 2)
        cv2.line(c.img, (x, y - 3), (x, y + 3), (255, 255, 255), 2)
    for cam in park.cameras.values():
        x, y = c.px(cam.x, cam.y)
        cv2.circle(c.img, (x, y), 5, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(c.img, (x, y), 3, CAMERA_COLOUR, -1, cv2.LINE_AA)
    for poi in park.pois.values():
        c.text(poi.name_en, c.px(poi.x, poi.y))
    _legend(c, park)
    return c.img


def _legend(c: _Canvas, park: Park) -> None:
    cv2.putText(c.img, f"{park.name}", (c.pad, 34), FONT, 0.8, (20, 20, 20), 2, cv2.LINE_AA)
    items: list[tuple[str, Colour]] = [
        ("restricted zone", ZONE_COLOURS["restricted"]), ("no-go zone", ZONE_COLOURS["no_go"]),
        ("after-hours zone", ZONE_COLOURS["after_hours"]), ("stairs", STAIRS_COLOUR),
        ("camera view", CAMERA_COLOUR), ("charger", (0, 170, 0)), ("checkpoint", (0, 150, 0)),
        *((f"{kind} sensor", colour) for kind, colour in SENSOR_COLOURS.items()),
    ]
    height, width = c.img.shape[:2]
    x, y = width - LEGEND_WIDTH + 10, 60
    cv2.rectangle(c.img, (x - 10, y - 10), (width - 10, y + 18 * len(items) + 40), (255, 255, 255), -1)
    for label, colour in items:
        cv2.rectangle(c.img, (x, y), (x + 14, y + 12), colour, -1)
        cv2.putText(c.img, label, (x + 22, y + 11), FONT, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
        y += 18
    bar = round(100 * c.scale)
    cv2.line(c.img, (x, y + 14), (x + min(bar, 160), y + 14), (20, 20, 20), 3)
    label = "100 m" if bar <= 160 else f"{160 / c.scale:.0f} m"
    cv2.putText(c.img, label, (x, y + 32), FONT, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
    north = (c.pad, height - 20)
    cv2.arrowedLine(c.img, north, (north[0], north[1] - 30), (20, 20, 20), 2, tipLength=0.35)
    cv2.putText(c.img, "N", (north[0] + 6, north[1] - 18), FONT, 0.5, (20, 20, 20), 1, cv2.LINE_AA)


def write_png(park: Park, out: str | os.PathLike[str], scale: float = 2.0) -> Path:
    """Render `park` and write a PNG at `out` (parents created); returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), render_park(park, scale), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"could not write PNG to {path}")
    return path
