"""Runtime scheduling: a step that runs out of time gives frames back and the cameras that waited
longest go first next time (no camera starves); events go out before their snapshots are encoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vision.scenes import OSD_MASK, FakeFrameSource, park_time, view, walk
from vision import topics
from vision.config import CameraSpec
from vision.detector import Detector
from vision.pipeline import PipelineConfig
from vision.rules import Rule, Zone
from vision.runtime import VisionRuntime
from vision.sources import FramePacket
from vision.types import Box, Detection

pytestmark = pytest.mark.model

EVERYWHERE = Zone("view", ((0, 0), (640, 0), (640, 480), (0, 480)))


def _spec(cid: str) -> CameraSpec:
    return CameraSpec(cid, f"test://{cid}", zones=(EVERYWHERE,), rules=(Rule("restricted_zone", zone="view"),),
                      detect_fps=5.0, motion_mask=OSD_MASK)


class RecordingPublisher:
    """Keeps event payloads and, for each, whether its snapshot file existed when it was published."""

    def __init__(self) -> None:
        self.runtime: VisionRuntime | None = None
        self.events: list[tuple[bytes, bool]] = []

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if topic == topics.EVENTS and self.runtime is not None:
            eid = json.loads(payload)["after"]["id"]
            self.events.append((payload, self.runtime.snapshots.has(eid)))


async def test_out_of_time_frames_are_given_back_and_no_camera_starves(
    detector: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detector, "batching", False)  # one frame per detector call
    cams = [f"c{i}" for i in range(4)]
    frames = walk(view(), park_time(12), 5.0, 3.0, [(9.0, 5.0), (9.0, -5.0)])
    sources = {c: FakeFrameSource(c) for c in cams}
    config = PipelineConfig(step_budget_s=0.0)  # every step detects on one frame only
    async with VisionRuntime([_spec(c) for c in cams], RecordingPublisher(), tmp_path, detector=detector,
                             sources=dict(sources), pipeline=config, calibrate_batching=False) as runtime:
        for t, frame in frames:
            for src in sources.values():
                src.push(frame, t)
            await runtime.step()
    runs = [runtime.pipelines[c].stats.detect_runs for c in cams]
    deferred = [runtime.pipelines[c].stats.deferred for c in cams]
    assert runtime.stats.detect_calls == sum(runs) >= len(cams), runs
    # one detection per step for four cameras seeing the same walk: fresh tracks jump the queue, yet
    # the cameras that waited longest come next, so every camera is detected on again and again
    assert min(runs) >= 2 and sum(runs) >= len(frames) - 2, runs
    assert runtime.stats.deferred == sum(deferred) > 0


async def test_event_is_published_before_its_snapshot_is_encoded(detector: Detector, tmp_path: Path) -> None:
    frames = walk(view(), park_time(12), 5.0, 5.0, [(9.0, 5.0), (9.0, -5.0)], lead_in=0.6)
    src = FakeFrameSource("gate")
    pub = RecordingPublisher()
    async with VisionRuntime([_spec("gate")], pub, tmp_path, detector=detector,
                             sources={"gate": src}) as runtime:
        pub.runtime = runtime
        for t, frame in frames:
            src.push(frame, t)
            await runtime.step()
            if pub.events:
                break
        assert pub.events, "the walk raised no event"
        payload, existed = pub.events[0]
        assert b'"type":"new"' in payload and b'"has_snapshot":true' in payload
        assert not existed  # published first ...
        eid = json.loads(payload)["after"]["id"]
        assert runtime.snapshots.has(eid)  # ... and stored before the step returned
        assert runtime.snapshot(eid)[:2] == b"\xff\xd8"
    assert set(runtime.stats.stage_s) >= {"motion", "detect", "track", "snapshot", "publish"}


async def test_fresh_track_awaiting_confirmation_goes_first(detector: Detector, tmp_path: Path) -> None:
    frames = walk(view(), park_time(12), 5.0, 1.0, [(9.0, 5.0), (9.0, -5.0)])
    sources = {c: FakeFrameSource(c) for c in ("a", "b")}
    async with VisionRuntime([_spec(c) for c in sources], RecordingPublisher(), tmp_path, detector=detector,
                             sources=dict(sources), calibrate_batching=False) as runtime:
        (t0, f0), (t1, f1), (t2, f2) = frames[:3]
        assert runtime.plan_frames([(c, FramePacket(f0, t0, 1)) for c in sources]) == ([], [])
        a, b = runtime.pipelines["a"], runtime.pipelines["b"]
        assert a.last_detect is not None and b.last_detect is not None
        # one camera waited longer (its staggered keep-alive phase), so it would go first ...
        first, second = ("b", "a") if b.last_detect < a.last_detect else ("a", "b")
        # ... unless the other camera has a fresh, unconfirmed track: give it one sighting
        runtime.pipelines[second].ingest(f1, [Detection("person", 0.9, Box(300, 200, 340, 300))], t1)
        works, _ = runtime.plan_frames([(c, FramePacket(f2, t2, 3)) for c in (first, second)])
        assert [w.camera for w in works] == [second, first]
        assert runtime.pipelines[second].confirming and not runtime.pipelines[first].confirming
