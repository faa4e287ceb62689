"""YOLO input and output handling shared by the detector and the INT8 quantizer's accuracy check.

`letterbox()` turns a frame (or a region of it) into a (1, 3, H, W) float32 blob; `decode()` turns the
raw head output of one image, (4 + classes, anchors), into detections in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.types import Box, Detection, Frame

STRIDE = 32
PAD_VALUE = 114

Blob = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Region:
    """Part of a frame to detect on: (x, y, width, height) in frame pixels."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float
    off_x: int
    off_y: int
    width: int
    height: int


def letterbox(frame: Frame, region: Region | None, target: int, square: bool = False) -> tuple[Blob, Letterbox]:
    """The model input for `frame` (or `region` of it): scaled so its longest side is `target` (upscaling
    at most 2x), padded to a multiple of the stride (to a square if `square`), RGB, 0..1."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be an HxWx3 BGR image, got shape {frame.shape}")
    off_x = off_y = 0
    img = frame
    if region is not None:
        fh, fw = frame.shape[:2]
        x0, y0 = max(0, region.x), max(0, region.y)
        x1, y1 = min(fw, region.x + region.w), min(fh, region.y + region.h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ValueError(f"region {region} lies outside the {fw}x{fh} frame")
        img, off_x, off_y = frame[y0:y1, x0:x1], x0, y0
    h, w = img.shape[:2]
    longest = max(h, w)
    scale = min(2.0, target / longest)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    inw = -(-nw // STRIDE) * STRIDE
    inh = -(-nh // STRIDE) * STRIDE
    if square:
        side = max(inw, inh)
        inw = inh = side
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else img
    pad_x, pad_y = (inw - nw) / 2.0, (inh - nh) / 2.0
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = cv2.copyMakeBorder(
        resized, top, inh - nh - top, left, inw - nw - left, cv2.BORDER_CONSTANT,
        value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
    )
    blob = cv2.dnn.blobFromImage(canvas, 1.0 / 255.0, swapRB=True)
    return blob.astype(np.float32, copy=False), Letterbox(scale, left, top, off_x, off_y, w, h)


def decode(out: Blob, lb: Letterbox, labels: list[str], conf: float, iou: float) -> list[Detection]:
    """Detections (best first, after NMS) from one image's raw output (4 + classes, anchors)."""
    scores_all = out[4:]
    if scores_all.shape[0] == 0:
        return []
    cls = scores_all.argmax(axis=0)
    scores = scores_all[cls, np.arange(scores_all.shape[1])]
    keep = scores >= conf
    if not keep.any():
        return []
    boxes = out[:4, keep].T
    scores, cls = scores[keep], cls[keep]
    xywh = np.empty_like(boxes)
    xywh[:, 0] = boxes[:, 0] - boxes[:, 2] / 2
    xywh[:, 1] = boxes[:, 1] - boxes[:, 3] / 2
    xywh[:, 2:] = boxes[:, 2:]
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), conf, iou)
    dets: list[Detection] = []
    for i in np.asarray(idx, dtype=np.int64).reshape(-1):
        x, y, bw, bh = xywh[i]
        x1 = np.clip((x - lb.pad_x) / lb.scale, 0, lb.width) + lb.off_x
        y1 = np.clip((y - lb.pad_y) / lb.scale, 0, lb.height) + lb.off_y
        x2 = np.clip((x + bw - lb.pad_x) / lb.scale, 0, lb.width) + lb.off_x
        y2 = np.clip((y + bh - lb.pad_y) / lb.scale, 0, lb.height) + lb.off_y
        c = int(cls[i])
        label = labels[c] if c < len(labels) else str(c)
        dets.append(Detection(label, float(scores[i]), Box(float(x1), float(y1), float(x2), float(y2)), c))
    dets.sort(key=lambda d: -d.score)
    return dets
