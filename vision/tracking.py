"""Tracking (ByteTrack from ultralytics) plus false-positive filtering.

A track becomes *confirmed* only once the median of its recent scores passes a threshold over
enough hits; boxes outside [min_area, max_area] are ignored; a track whose box stays put for
`stationary_after` seconds is marked stationary so it stops producing updates.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.models import offline_ultralytics
from vision.types import Box, Detection


@dataclass(frozen=True)
class TrackerConfig:
    """Thresholds of the track filter; areas are fractions of the frame area."""

    confirm_score: float = 0.5
    min_hits: int = 2
    history: int = 8
    min_area: float = 0.0005
    max_area: float = 0.8
    stationary_after: float = 10.0
    stationary_iou: float = 0.85
    expire_after: float = 4.0
    match_expand: tuple[float, float] = (3.0, 1.3)
    """Boxes are widened/heightened by these factors for association only ("buffered IoU"), so a
    person who moved more than their own width between two detections (low detect rate, walking
    across the view) still matches their track."""


@dataclass
class TrackedObject:
    """State of one tracked object on one camera."""

    id: str
    track_id: int
    box: Box
    score: float
    first_seen: float
    last_seen: float
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=8))
    labels: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    top_score: float = 0.0
    hits: int = 0
    confirmed: bool = False
    stationary: bool = False
    anchor_box: Box | None = None
    anchor_time: float = 0.0

    @property
    def label(self) -> str:
        """Majority of the recent labels (a person who falls turns into person_fallen)."""
        return Counter(self.labels).most_common(1)[0][0] if self.labels else "unknown"

    @property
    def median_score(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0


class _Dets:
    """The results-like view BYTETracker reads: conf, cls, xywh, xyxy, boolean indexing."""

    def __init__(self, xyxy: npt.NDArray[np.float32], conf: npt.NDArray[np.float32],
                 cls: npt.NDArray[np.float32]) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = np.empty_like(xyxy)
        self.xywh[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2
        self.xywh[:, 1] = (xyxy[:, 1] + xyxy[:, 3]) / 2
        self.xywh[:, 2] = xyxy[:, 2] - xyxy[:, 0]
        self.xywh[:, 3] = xyxy[:, 3] - xyxy[:, 1]

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx: Any) -> _Dets:
        return _Dets(self.xyxy[idx], self.conf[idx], self.cls[idx])


_object_ids = itertools.count(1)


class ObjectTracker:
    """Tracks detections of one camera over time and decides which tracks are real."""

    def __init__(self, camera: str, frame_size: tuple[int, int], config: TrackerConfig | None = None) -> None:
        offline_ultralytics()
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.camera = camera
        self.config = config or TrackerConfig()
        self.frame_area = float(frame_size[0] * frame_size[1])
        args = argparse.Namespace(
            track_high_thresh=0.3, track_low_thresh=0.1, new_track_thresh=0.35,
            track_buffer=30, match_thresh=0.85, fuse_score=False,
        )
        self._bt = BYTETracker(args)  # type: ignore[no-untyped-call]
        self.objects: dict[int, TrackedObject] = {}

    def update(self, detections: list[Detection], now: float, labels: list[str]) -> list[TrackedObject]:
        """Feed one frame's detections; returns the tracks seen in this frame.

        `labels` is the detector's label list (index = class id), used to name tracked classes.
        """
        cfg = self.config
        kept = [d for d in detections
                if cfg.min_area <= d.box.area / self.frame_area <= cfg.max_area]
        if kept:
            ew, eh = cfg.match_expand
            xyxy = np.array([[cx - d.box.width * ew / 2, cy - d.box.height * eh / 2,
                              cx + d.box.width * ew / 2, cy + d.box.height * eh / 2]
                             for d in kept for cx, cy in [d.box.center]], dtype=np.float32)
            conf = np.array([d.score for d in kept], dtype=np.float32)
            cls = np.array([d.class_id for d in kept], dtype=np.float32)
        else:
            xyxy = np.zeros((0, 4), np.float32)
            conf = cls = np.zeros((0,), np.float32)
        rows = self._bt.update(_Dets(xyxy, conf, cls))
        seen: list[TrackedObject] = []
        for row in rows:
            x1, y1, x2, y2, tid, score, c, idx = (float(v) for v in row[:8])
            det = kept[int(idx)] if 0 <= int(idx) < len(kept) else None
            box = det.box if det is not None else Box(x1, y1, x2, y2)
            sc = det.score if det is not None else score
            label = labels[int(c)] if 0 <= int(c) < len(labels) else str(int(c))
            obj = self.objects.get(int(tid))
            if obj is None:
                obj = TrackedObject(
                    id=f"{now:.3f}-{self.camera}-{next(_object_ids)}", track_id=int(tid), box=box,
                    score=sc, first_seen=now, last_seen=now, scores=deque(maxlen=cfg.history),
                    anchor_box=box, anchor_time=now,
                )
                self.objects[int(tid)] = obj
                if self._bt.frame_id > 1:
                    obj.hits = 1  # ByteTrack outputs a track from its second match on: count the first
            if det is None:
                continue  # predicted only (no detection matched this frame): no new evidence
            obj.box, obj.score, obj.last_seen = box, sc, now
            obj.scores.append(sc)
            obj.labels.append(label)
            obj.hits += 1
            obj.top_score = max(obj.top_score, sc)
            if not obj.confirmed and obj.hits >= cfg.min_hits and obj.median_score >= cfg.confirm_score:
                obj.confirmed = True
            self._update_stationary(obj, now)
            seen.append(obj)
        return seen

    def _update_stationary(self, obj: TrackedObject, now: float) -> None:
        anchor = obj.anchor_box or obj.box
        if obj.box.iou(anchor) >= self.config.stationary_iou:
            obj.stationary = now - obj.anchor_time >= self.config.stationary_after
        else:
            obj.anchor_box, obj.anchor_time, obj.stationary = obj.box, now, False

    def expire(self, now: float) -> list[TrackedObject]:
        """Remove and return tracks unseen for longer than `expire_after` seconds."""
        gone = [o for o in self.objects.values() if now - o.last_seen > self.config.expire_after]
        for o in gone:
            del self.objects[o.track_id]
        return gone

    def pending(self) -> int:
        """New tracks ByteTrack has seen once and not yet activated."""
        return sum(1 for t in self._bt.tracked_stracks if not t.is_activated)

    def active(self) -> list[TrackedObject]:
        return list(self.objects.values())
