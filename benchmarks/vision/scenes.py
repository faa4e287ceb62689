"""Benchmark scenes: K simulated cameras at 5 fps, people walking through some views, others empty.

Frames are rendered by `simulator.render` (real person cut-outs from the ultralytics photos on a
drawn park) and kept as JPEG, as a camera would deliver them; ground-truth person boxes come from
the same projection the renderer uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.imagery import sprite
from simulator.render import CameraView, PersonPose, encode_jpeg, pixels_per_metre, project, render_frame
from vision.types import Box

OSD_MASK = (((0.0, 0.0), (330.0, 0.0), (330.0, 28.0), (0.0, 28.0)),)
MIN_GT_HEIGHT = 40.0
"""People smaller than this (pixels) are not counted in recall: no detector at 640 px sees them."""


@dataclass(frozen=True)
class BenchFrame:
    camera: str
    index: int
    t: float
    jpeg: bytes
    truth: tuple[Box, ...]


@dataclass(frozen=True)
class Walker:
    start: tuple[float, float]
    end: tuple[float, float]
    t_start: float
    speed: float = 1.4
    appearance: int = 0

    def at(self, t: float) -> tuple[float, float] | None:
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        dist = math.hypot(dx, dy)
        s = (t - self.t_start) * self.speed
        if s < 0 or s > dist:
            return None
        return (self.start[0] + dx * s / dist, self.start[1] + dy * s / dist)


def truth_box(cam: CameraView, p: PersonPose) -> Box | None:
    u, v, w = project(cam.h, p.x, p.y)
    if w <= 0 or not (math.isfinite(u) and math.isfinite(v)):
        return None
    length = p.height_m * pixels_per_metre(cam, p.x, p.y)
    width = length * sprite(p.appearance).aspect
    box = Box(u - width / 2, v - length, u + width / 2, v)
    if length < MIN_GT_HEIGHT or box.x1 < 0 or box.x2 > cam.width or box.y1 < 0 or box.y2 > cam.height:
        return None  # too small, or cut by the frame edge
    return box


def build_scenes(cameras: int, seconds: float, fps: float, t0: float) -> dict[str, list[BenchFrame]]:
    """Frames per camera; even-numbered cameras have people walking through, odd ones stay empty."""
    out: dict[str, list[BenchFrame]] = {}
    n = int(seconds * fps)
    for k in range(cameras):
        cid = f"bench{k:02d}"
        cam = CameraView.pinhole(cid, 0.0, 0.0, 0.3 * k, height_m=6.0, pitch_deg=18.0, hfov_deg=70.0, seed=k)
        fwd = (math.cos(0.3 * k), math.sin(0.3 * k))
        side = (-fwd[1], fwd[0])

        def pt(dist: float, lateral: float, fwd: tuple[float, float] = fwd,
               side: tuple[float, float] = side) -> tuple[float, float]:
            return (fwd[0] * dist + side[0] * lateral, fwd[1] * dist + side[1] * lateral)

        walkers: list[Walker] = []
        if k % 2 == 0:
            d = 7.0 + (k % 5)
            walkers.append(Walker(pt(d, 7.0), pt(d, -7.0), t0 + 0.5 + 0.2 * k, appearance=k))
            if k % 4 == 0:
                walkers.append(Walker(pt(d + 3, -7.0), pt(d + 3, 7.0), t0 + 3.0, appearance=k + 1))
        frames: list[BenchFrame] = []
        for i in range(n):
            t = t0 + i / fps
            people = [PersonPose(f"w{j}", *pos, appearance=w.appearance)
                      for j, w in enumerate(walkers) if (pos := w.at(t)) is not None]
            truth = tuple(b for p in people if (b := truth_box(cam, p)) is not None)
            frames.append(BenchFrame(cid, i, t, encode_jpeg(render_frame(cam, people, t)), truth))
        out[cid] = frames
    return out


def matched(truth: Box, predicted: list[Box]) -> bool:
    """A ground-truth person is found if a predicted box overlaps it (IoU >= 0.25) or holds its centre."""
    cx, cy = truth.center
    return any(truth.iou(p) >= 0.25 or (p.x1 <= cx <= p.x2 and p.y1 <= cy <= p.y2) for p in predicted)
