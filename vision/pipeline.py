"""One camera's processing: motion gate -> (detector, run by the caller) -> tracker -> rules -> events.

The caller (the runtime or the benchmark) asks `plan()` which regions to detect on, runs the shared
detector over all cameras' regions at once, then hands each camera its detections in `ingest()`.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

from vision.config import CameraSpec
from vision.detector import Region
from vision.events import EventState, MapPosition, OpenEvent, VisionEvent, changed_enough
from vision.geometry import Homography
from vision.motion import MotionConfig, MotionGate, expand_region, merge_boxes
from vision.rules import RuleEngine
from vision.snapshots import SnapshotStore
from vision.tracking import ObjectTracker, TrackedObject, TrackerConfig
from vision.types import Box, Detection, Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    motion: MotionConfig = field(default_factory=MotionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    motion_gating: bool = True
    track_fps: float = 1.0
    """Re-detection rate around known tracks when nothing moves."""
    full_frame_fraction: float = 0.45
    end_grace: float = 2.0
    snapshot_interval: float = 1.0
    region_size: int = 320
    """Motion regions are scaled to this many pixels on their longest side for the detector."""
    step_budget_s: float = 0.3
    """Runtime: detection time one step may take; frames still waiting after it are given back (the
    cameras' next frames go first in the next step), so event latency stays bounded under overload."""


@dataclass
class PipelineStats:
    frames: int = 0
    detect_runs: int = 0
    skipped_no_motion: int = 0
    skipped_fps_cap: int = 0
    deferred: int = 0
    """Planned detections the runtime gave back because its step ran out of time."""
    events: int = 0


@dataclass(frozen=True)
class _SnapshotJob:
    event_id: str
    frame: Frame
    box: Box
    label: str
    score: float


class CameraPipeline:
    """Stateful processing of one camera's frames (not thread-safe: one caller at a time)."""

    def __init__(self, spec: CameraSpec, labels: list[str], snapshots: SnapshotStore | None = None,
                 config: PipelineConfig | None = None) -> None:
        self.spec = spec
        self.labels = labels
        self.config = config or PipelineConfig()
        self.snapshots = snapshots
        self.gate = MotionGate(self.config.motion, spec.motion_mask)
        self.rules = RuleEngine(spec.zones, spec.rules, spec.homography, moving_camera=spec.robot is not None)
        self.tracker: ObjectTracker | None = None
        self.stats = PipelineStats()
        self._last_detect: float | None = None
        self._detect_before: float | None = None
        self.confirming = False
        """The last planned frame has a fresh track waiting for confirmation (a possible alert)."""
        self._open: dict[str, OpenEvent] = {}
        self._snap_time: dict[str, float] = {}
        self._snap_score: dict[str, float] = {}
        self._pending_snaps: dict[str, _SnapshotJob] = {}

    # -- planning ---------------------------------------------------------------------------------
    def plan(self, frame: Frame, now: float) -> list[Region | None] | None:
        """Regions to detect on in this frame (None in the list = whole frame), or None to skip."""
        self.stats.frames += 1
        h, w = frame.shape[:2]
        # a robot's camera moves with the robot: frame differencing says nothing there
        gating = self.config.motion_gating and self.spec.robot is None
        motion = self.gate.update(frame) if gating else None
        if self._last_detect is None:
            # stagger the first keep-alive detection of each camera over the keep-alive period, so that
            # a restart with many cameras does not queue a full-frame detection for all of them at once
            phase = (zlib.crc32(self.spec.id.encode()) % 1000) / 1000.0
            self._last_detect = now - self.spec.keepalive_s * phase if motion is not None else now - 1e9
        since = now - self._last_detect
        tracks = self.tracker.active() if self.tracker else []
        confirming = self.tracker is not None and (
            self.tracker.pending() > 0 or any(not o.confirmed and now - o.last_seen < 1.0 for o in tracks))
        self.confirming = confirming
        # the cap is waived while a fresh track waits for confirmation: an alert should not wait for it
        if since < 0.9 / self.spec.detect_fps and not confirming:  # 10% slack for frame-time jitter
            self.stats.skipped_fps_cap += 1
            return None
        if motion is None:
            return self._detect_at(now, [None])
        boxes: list[tuple[float, float, float, float]] = [
            (r.x, r.y, r.x + r.w, r.y + r.h) for r in motion.regions]
        if tracks and (motion.moving or since >= 1.0 / self.config.track_fps):
            boxes += [(o.box.x1, o.box.y1, o.box.x2, o.box.y2) for o in tracks]
        if not boxes:
            if since >= self.spec.keepalive_s:
                return self._detect_at(now, [None])
            self.stats.skipped_no_motion += 1
            return None
        grown = [expand_region(Region(round(a), round(b), round(c - a), round(d - b)), w, h)
                 for a, b, c, d in boxes]
        merged = merge_boxes([(r.x, r.y, r.x + r.w, r.y + r.h) for r in grown], 0.0)
        area = sum((c - a) * (d - b) for a, b, c, d in merged)
        if area >= self.config.full_frame_fraction * w * h:
            return self._detect_at(now, [None])
        return self._detect_at(now, [Region(round(a), round(b), round(c - a), round(d - b))
                                     for a, b, c, d in merged])

    @property
    def last_detect(self) -> float | None:
        """Capture time of the last frame planned for detection (None before the first frame)."""
        return self._last_detect

    def defer(self) -> None:
        """Give back the detection the last `plan()` asked for: it was not run (the runtime ran out of
        time), so the camera's next frame is planned as if this one had skipped detection."""
        self._last_detect = self._detect_before
        self.stats.detect_runs -= 1
        self.stats.deferred += 1

    def _detect_at(self, now: float, regions: list[Region | None]) -> list[Region | None]:
        self._detect_before = self._last_detect
        self._last_detect = now
        self.stats.detect_runs += 1
        return regions

    # -- ingest -----------------------------------------------------------------------------------
    def ingest(self, frame: Frame, detections: list[Detection], now: float) -> list[VisionEvent]:
        """Track this frame's detections, evaluate rules, return the events to publish."""
        if self.tracker is None:
            self.tracker = ObjectTracker(self.spec.id, (frame.shape[1], frame.shape[0]), self.config.tracker)
        dets = dedupe(detections)
        seen = self.tracker.update(dets, now, self.labels)
        gone = {o.id for o in self.tracker.expire(now)}
        return self._events(frame, seen, gone, now)

    def idle(self, now: float) -> list[VisionEvent]:
        """Called for frames without detection: ends events whose objects expired."""
        if self.tracker is None:
            return []
        gone = {o.id for o in self.tracker.expire(now)}
        return self._events(None, [], gone, now) if (gone or self._open) else []

    def close(self, now: float) -> list[VisionEvent]:
        """The camera stops here (handed to another worker): `end` every open event."""
        out = [VisionEvent(type="end", before=o.state, after=o.state.model_copy(update={
            "end_time": now, "has_snapshot": self._has_snapshot(o.state.id)})) for o in self._open.values()]
        self._open.clear()
        self._snap_time.clear()
        self._snap_score.clear()
        return out

    def homography(self) -> Homography | None:
        if self.spec.robot is not None:
            pose = self.spec.robot.pose()
            return self.spec.robot.camera.homography(*pose) if pose is not None else None
        return self.spec.homography

    def _events(self, frame: Frame | None, seen: list[TrackedObject], gone: set[str],
                now: float) -> list[VisionEvent]:
        assert self.tracker is not None
        objects = self.tracker.active()
        if self.spec.robot is not None:
            self.rules.homography = self.homography()
        ev = self.rules.evaluate(objects, now)
        seen_ids = {o.id for o in seen}
        out: list[VisionEvent] = []
        for obj in objects:
            hits = ev.hits.get(obj.id)
            if not hits:
                continue
            rules = sorted({r.name for r in hits})
            if frame is not None and obj.id in seen_ids:
                self._maybe_snapshot(obj, frame, now)
            state = self._state(obj, rules, ev.zones.get(obj.id, []), now)
            out += self._emit(obj.id, state, now)
        for crowd in ev.crowd:
            members = [o for o in objects if o.id in crowd.object_ids]
            key = f"{self.spec.id}-{crowd.rule.name}"
            opened = self._open.get(key)
            box = Box(min(o.box.x1 for o in members), min(o.box.y1 for o in members),
                      max(o.box.x2 for o in members), max(o.box.y2 for o in members))
            score = sum(o.score for o in members) / len(members)
            eid = opened.state.id if opened else f"{now:.3f}-{key}"
            if frame is not None and (opened is None or not self._snap_time.get(eid)):
                self._save_snapshot(eid, frame, box, "crowd", score, now)
            state = EventState(
                id=eid, camera=self.spec.id, label="crowd", sub_label=str(len(members)), score=score,
                top_score=max(score, opened.state.top_score if opened else 0.0), box=box.as_list(),
                area=round(box.area), zones=[crowd.rule.zone] if crowd.rule.zone else [],
                current_zones=[crowd.rule.zone] if crowd.rule.zone else [], rules=[crowd.rule.name],
                start_time=opened.state.start_time if opened else now,
                has_snapshot=self._has_snapshot(eid), robot=self._robot_id(),
            )
            out += self._emit(key, state, now)
        for key, opened in list(self._open.items()):
            obj_gone = key in gone
            if obj_gone or now - opened.last_hit > self.config.end_grace:
                end = opened.state.model_copy(update={
                    "end_time": now, "has_snapshot": self._has_snapshot(opened.state.id)})
                out.append(VisionEvent(type="end", before=opened.state, after=end))
                del self._open[key]
                self._snap_time.pop(opened.state.id, None)
                self._snap_score.pop(opened.state.id, None)
        self.stats.events += len(out)
        return out

    def _emit(self, key: str, state: EventState, now: float) -> list[VisionEvent]:
        opened = self._open.get(key)
        if opened is None:
            self._open[key] = OpenEvent(state, now, now, list(state.zones))
            return [VisionEvent(type="new", before=state, after=state)]
        zones = opened.zones_seen + [z for z in state.current_zones if z not in opened.zones_seen]
        state = state.model_copy(update={"zones": zones, "start_time": opened.state.start_time})
        opened.last_hit = now
        opened.zones_seen = zones
        if changed_enough(opened.state, state):
            before, opened.state, opened.last_sent = opened.state, state, now
            return [VisionEvent(type="update", before=before, after=state)]
        return []

    def _state(self, obj: TrackedObject, rules: list[str], zones: list[str], now: float) -> EventState:
        hom = self.rules.homography
        ground = hom.to_ground(*obj.box.foot) if hom is not None else None
        return EventState(
            id=obj.id, camera=self.spec.id, label=obj.label, score=round(obj.score, 4),
            top_score=round(obj.top_score, 4), box=obj.box.as_list(), area=round(obj.box.area),
            zones=list(zones), current_zones=list(zones), rules=rules, start_time=obj.first_seen,
            has_snapshot=self._has_snapshot(obj.id), stationary=obj.stationary,
            position=MapPosition(x=round(ground[0], 3), y=round(ground[1], 3)) if ground else None,
            robot=self._robot_id(),
        )

    def _robot_id(self) -> str | None:
        return self.spec.robot.robot_id if self.spec.robot else None

    def _has_snapshot(self, event_id: str) -> bool:
        return event_id in self._snap_time

    def _maybe_snapshot(self, obj: TrackedObject, frame: Frame, now: float) -> None:
        last = self._snap_time.get(obj.id)
        better = obj.score > self._snap_score.get(obj.id, -1.0)
        if last is None or (better and now - last >= self.config.snapshot_interval):
            self._save_snapshot(obj.id, frame, obj.box, obj.label, obj.score, now)

    def _save_snapshot(self, eid: str, frame: Frame, box: Box, label: str, score: float, now: float) -> None:
        """Choose this frame as the event's snapshot; `save_snapshots()` encodes and stores it later."""
        if self.snapshots is None:
            return
        self._pending_snaps[eid] = _SnapshotJob(eid, frame, box, label, score)  # a better one replaces it
        self._snap_time[eid] = now
        self._snap_score[eid] = score

    def save_snapshots(self) -> int:
        """Encode and store the snapshots chosen since the last call; returns how many were stored.

        Kept off the event latency path: the runtime publishes a frame's events first and saves its
        snapshots after. The events already say `has_snapshot`; if storing fails, the event forgets its
        snapshot and takes another at its next sighting.
        """
        jobs, self._pending_snaps = list(self._pending_snaps.values()), {}
        if self.snapshots is None:
            return 0
        saved = 0
        for job in jobs:
            try:
                self.snapshots.save(job.event_id, job.frame, job.box, job.label, job.score)
            except (OSError, ValueError) as exc:
                log.warning("camera %s: snapshot of %s not saved: %s", self.spec.id, job.event_id, exc)
                self._snap_time.pop(job.event_id, None)
                self._snap_score.pop(job.event_id, None)
                continue
            saved += 1
        return saved


def dedupe(dets: list[Detection], iou: float = 0.6) -> list[Detection]:
    """Drop detections overlapping a higher-scored one (the same object seen in two regions)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(d.box.iou(k.box) < iou for k in kept):
            kept.append(d)
    return kept
