"""A camera handed to another worker in the middle of an event (real model): its open event ends,
the event's snapshot went out ahead of the event for the service to store, and the camera is not
reported offline (the new owner reports it)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.vision.scenes import OSD_MASK, FakeFrameSource, park_time, view, walk
from tests.vision.test_events import NIGHT
from vision import topics
from vision.config import CameraSpec
from vision.detector import Detector
from vision.events import VisionEvent
from vision.rules import Rule, Zone
from vision.runtime import VisionRuntime

pytestmark = pytest.mark.model


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.sent.append((topic, payload))


async def test_removing_a_camera_mid_event_ends_it_and_its_snapshot_went_out(
    detector: Detector, tmp_path: Path
) -> None:
    cam = view("gate")
    spec = CameraSpec("gate", "test://gate", zones=(Zone("lab", ((320, 150), (640, 150), (640, 480), (320, 480)),
                                                         active=NIGHT),),
                      rules=(Rule("restricted_zone", zone="lab"),), detect_fps=5.0, motion_mask=OSD_MASK)
    frames = walk(cam, park_time(2), 5.0, 12.0, [(9.0, 5.0), (9.0, -10.0)], lead_in=1.0)
    src = FakeFrameSource("gate")
    pub = RecordingPublisher()
    async with VisionRuntime([], pub, tmp_path, detector=detector, sources={"gate": src}, worker_id="w1",
                             publish_snapshots=True) as runtime:
        await runtime.add_camera(spec)
        with pytest.raises(ValueError):
            await runtime.add_camera(spec)
        for t, frame in frames:
            src.push(frame, t)
            await runtime.step()
            if any(topic == topics.EVENTS for topic, _ in pub.sent) and len(pub.sent) > 6:
                break
        await runtime.remove_camera("gate")
        assert runtime.cameras == {} and runtime.sources == {} and runtime.pipelines == {}
        await runtime.step()  # nothing left to watch: no error
    events = [(i, VisionEvent.model_validate_json(p)) for i, (topic, p) in enumerate(pub.sent)
              if topic == topics.EVENTS]
    assert events and events[0][1].type == "new" and events[-1][1].type == "end", [e.type for _, e in events]
    eid = events[0][1].after.id
    assert events[-1][1].after.id == eid and events[-1][1].after.end_time is not None
    snaps = [i for i, (topic, _) in enumerate(pub.sent) if topic == topics.snapshot(eid)]
    first_with_snapshot = next(i for i, e in events if e.after.has_snapshot)
    # the event goes out first (latency); its JPEG is stored after the step's events and follows at once
    assert snaps and snaps[0] == first_with_snapshot + 1, (snaps, first_with_snapshot)
    jpeg = pub.sent[snaps[-1]][1]
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
    status = [json.loads(p) for topic, p in pub.sent if topic == topics.camera_status("gate")]
    assert status and all(s["state"] == "online" and s["worker"] == "w1" for s in status)  # no offline flap
