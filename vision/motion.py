"""Cheap motion detection on a downscaled frame, so the detector runs only where something moves.

Running average of a blurred grey thumbnail; pixels that differ by more than `threshold` form
contours; boxes of large-enough contours are the motion regions, in full-frame pixels. A sudden
global change (lights, IR switch, auto exposure) recalibrates the background instead of
reporting the whole frame as motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.detector import Region
from vision.types import Frame

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MotionConfig:
    width: int = 160
    threshold: int = 15
    alpha: float = 0.05
    min_area: float = 0.0015
    """Smallest contour kept, as a fraction of the thumbnail area."""
    recalibrate_fraction: float = 0.35
    """Changed fraction of the frame above which the change is global and the background resets."""
    merge_margin: float = 0.05


@dataclass(frozen=True)
class MotionResult:
    regions: list[Region]
    changed_fraction: float
    recalibrated: bool

    @property
    def moving(self) -> bool:
        return bool(self.regions)


class MotionGate:
    """Motion detector for one camera."""

    def __init__(self, config: MotionConfig | None = None,
                 mask: Sequence[Sequence[tuple[float, float]]] = ()) -> None:
        self.config = config or MotionConfig()
        self.mask_polygons = [list(p) for p in mask]
        self._keep: npt.NDArray[np.uint8] | None = None
        self._avg: npt.NDArray[np.float32] | None = None
        self._shape: tuple[int, int] | None = None
        self.recalibrations = 0

    def reset(self) -> None:
        self._avg = None

    def update(self, frame: Frame) -> MotionResult:
        cfg = self.config
        h, w = frame.shape[:2]
        sw = min(cfg.width, w)
        sh = max(1, round(h * sw / w))
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._avg is None or self._shape != (h, w):
            self._avg = gray.astype(np.float32)
            self._shape = (h, w)
            self._keep = self._mask_image(w, h, sw, sh)
            return MotionResult([], 0.0, recalibrated=True)
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._avg))
        _, mask = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)
        if self._keep is not None:
            mask = cv2.bitwise_and(mask, self._keep)
        changed = float(np.count_nonzero(mask)) / mask.size
        if changed > cfg.recalibrate_fraction:
            self._avg = gray.astype(np.float32)
            self.recalibrations += 1
            return MotionResult([], changed, recalibrated=True)
        cv2.accumulateWeighted(gray, self._avg, cfg.alpha)
        if changed == 0.0:
            return MotionResult([], 0.0, recalibrated=False)
        mask = cv2.dilate(mask, _KERNEL, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_px = cfg.min_area * sw * sh
        sx, sy = w / sw, h / sh
        boxes = []
        for c in contours:
            if cv2.contourArea(c) < min_px:
                continue
            x, y, bw, bh = cv2.boundingRect(c)
            boxes.append((x * sx, y * sy, (x + bw) * sx, (y + bh) * sy))
        merged = merge_boxes(boxes, cfg.merge_margin * max(w, h))
        regions = [Region(round(a), round(b), round(c - a), round(d - b)) for a, b, c, d in merged]
        return MotionResult(regions, changed, recalibrated=False)


    def _mask_image(self, w: int, h: int, sw: int, sh: int) -> npt.NDArray[np.uint8] | None:
        """255 where motion counts, 0 inside the mask polygons (timestamps, trees, flags)."""
        if not self.mask_polygons:
            return None
        keep = np.full((sh, sw), 255, np.uint8)
        for poly in self.mask_polygons:
            pts = np.array([[x * sw / w, y * sh / h] for x, y in poly], np.int32)
            cv2.fillPoly(keep, [pts], 0)
        return keep


def merge_boxes(
    boxes: list[tuple[float, float, float, float]], margin: float
) -> list[tuple[float, float, float, float]]:
    """Union boxes that overlap or lie within `margin` pixels of each other."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if (a[0] - margin <= b[2] and b[0] - margin <= a[2]
                        and a[1] - margin <= b[3] and b[1] - margin <= a[3]):
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    changed = True
                    break
            if changed:
                break
    return out


def expand_region(region: Region, frame_w: int, frame_h: int, factor: float = 0.5,
                  min_side: int = 192) -> Region:
    """Grow a region by `factor` of its size (people are bigger than their moving parts)."""
    cx, cy = region.x + region.w / 2, region.y + region.h / 2
    w = max(min_side, region.w * (1 + factor))
    h = max(min_side, region.h * (1 + factor))
    x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
    x1, y1 = min(float(frame_w), cx + w / 2), min(float(frame_h), cy + h / 2)
    return Region(round(x0), round(y0), round(x1 - x0), round(y1 - y0))
