"""Pipeline scenarios on rendered frames with the real model: a fall, and a robot camera placing a
person on the map from the robot's pose."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.render import CameraView, PersonPose, render_frame
from tests.vision.scenes import OSD_MASK, park_time, view
from vision.config import CameraSpec, RobotMount
from vision.detector import Detector
from vision.events import VisionEvent
from vision.geometry import RobotCamera
from vision.pipeline import CameraPipeline
from vision.rules import Rule, Zone
from vision.snapshots import SnapshotStore
from vision.types import Frame

pytestmark = pytest.mark.model


def run(pipe: CameraPipeline, det: Detector, frames: list[tuple[float, Frame]]) -> list[VisionEvent]:
    events: list[VisionEvent] = []
    for t, frame in frames:
        regions = pipe.plan(frame, t)
        if regions is None:
            events += pipe.idle(t)
            continue
        found = det.detect_regions([(frame, r) for r in regions])
        events += pipe.ingest(frame, [d for r in found for d in r], t)
    return events


def test_fallen_person_lying_still_raises_fall(detector: Detector, tmp_path: Path) -> None:
    cam = view("yard")
    spec = CameraSpec("yard", "test://yard", rules=(Rule("fall"),), motion_mask=OSD_MASK, keepalive_s=1.0)
    pipe = CameraPipeline(spec, detector.labels, SnapshotStore(tmp_path))
    t0 = park_time(15)
    person = PersonPose("p", 10.0, -3.0, fallen=True, appearance=1)
    frames = [(t0 + i / 5, render_frame(cam, [person], t0 + i / 5)) for i in range(15)]
    events = run(pipe, detector, frames)
    assert events and events[0].type == "new"
    assert events[0].after.label == "person_fallen" and events[0].after.rules == ["fall"]
    assert events[0].after.has_snapshot
    assert pipe.stats.detect_runs < len(frames)  # nothing moves: detection only around the track


def test_robot_camera_places_person_on_map(detector: Detector, tmp_path: Path) -> None:
    robot_pose = (2.0, 3.0, math.pi / 2)  # facing north
    mount = RobotCamera(width=640, height=480, hfov_deg=70.0, mount_height=1.2, pitch_deg=8.0)
    cam = CameraView.pinhole("dog1-front", robot_pose[0], robot_pose[1], robot_pose[2], height_m=1.2,
                             pitch_deg=8.0, hfov_deg=70.0)
    near_target = Zone("lawn", ((0.0, 9.0), (4.0, 9.0), (4.0, 14.0), (0.0, 14.0)), space="ground")
    spec = CameraSpec("dog1-front", "test://dog1", zones=(near_target,),
                      rules=(Rule("restricted_zone", zone="lawn"),),
                      robot=RobotMount("dog1", mount, lambda: robot_pose), motion_mask=OSD_MASK)
    pipe = CameraPipeline(spec, detector.labels)
    t0 = park_time(11)
    frames = []
    for i in range(12):
        t = t0 + i / 5
        frames.append((t, render_frame(cam, [PersonPose("p", 2.5, 11.0)], t)))
    events = run(pipe, detector, frames)
    assert events and events[0].type == "new", [e.type for e in events]
    pos = events[0].after.position
    assert pos is not None and events[0].after.robot == "dog1"
    assert abs(pos.x - 2.5) < 1.0 and abs(pos.y - 11.0) < 1.0, pos
