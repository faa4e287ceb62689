"""End to end: a simulated camera at night, a person walks into a restricted zone and out again;
the runtime publishes new -> update -> end on a real Mosquitto, with a snapshot."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from patrol.broker import BrokerEndpoint
from tests.vision.scenes import OSD_MASK, FakeFrameSource, park_time, view, walk
from vision import topics
from vision.config import CameraSpec, daily_window
from vision.detector import Detector
from vision.events import VisionEvent
from vision.mqtt import MqttPublisher
from vision.rules import Rule, Zone
from vision.runtime import VisionRuntime

pytestmark = pytest.mark.model

NIGHT = daily_window("20:00", "06:00", "Asia/Shanghai")


async def _collect(broker: BrokerEndpoint, out: list[tuple[str, dict[str, Any]]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topics.EVENTS, qos=1)
        await client.subscribe("parkpatrol/cameras/+/status", qos=1)
        ready.set()
        async for msg in client.messages:
            out.append((str(msg.topic), json.loads(bytes(msg.payload))))


async def test_person_enters_restricted_zone_at_night(
    broker: BrokerEndpoint, detector: Detector, tmp_path: Path
) -> None:
    cam = view("gate")
    zones = (
        Zone("lab", ((320, 150), (640, 150), (640, 480), (320, 480)), active=NIGHT),
        Zone("lab-inner", ((470, 150), (640, 150), (640, 480), (470, 480))),
    )
    spec = CameraSpec("gate", "test://gate", zones=zones, rules=(Rule("restricted_zone", zone="lab"),),
                      detect_fps=5.0, motion_mask=OSD_MASK)
    t0 = park_time(2)
    frames = walk(cam, t0, 5.0, 12.0, [(9.0, 5.0), (9.0, -10.0)], lead_in=1.0)  # 1.4 m/s
    frames += walk(cam, frames[-1][0] + 0.2, 5.0, 5.0, [])  # empty scene: the event ends
    src = FakeFrameSource("gate")
    messages: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(broker, messages, ready))
    await asyncio.wait_for(ready.wait(), 10)
    async with MqttPublisher(broker.url) as pub, VisionRuntime(
        [spec], pub, tmp_path, detector=detector, sources={"gate": src}
    ) as runtime:
        for t, frame in frames:
            src.push(frame, t)
            await runtime.step()
        await asyncio.sleep(0.5)
    collector.cancel()
    events = [VisionEvent.model_validate(p) for topic, p in messages if topic == topics.EVENTS]
    kinds = [e.type for e in events]
    assert kinds[0] == "new" and kinds[-1] == "end" and "update" in kinds, kinds
    assert len({e.after.id for e in events}) == 1
    new, end = events[0], events[-1]
    assert new.after.label == "person" and new.after.rules == ["restricted_zone:lab"]
    assert new.after.has_snapshot and "lab" in new.after.current_zones
    assert end.after.end_time is not None and end.after.end_time > new.after.start_time
    assert set(end.after.zones) == {"lab", "lab-inner"}
    jpeg = runtime.snapshot(new.after.id, boxes=True)
    assert jpeg[:2] == b"\xff\xd8"
    status = [p for topic, p in messages if topic == topics.camera_status("gate")]
    assert status and status[0]["state"] == "online" and status[-1]["state"] == "offline"


async def test_same_walk_by_day_raises_nothing(detector: Detector, tmp_path: Path) -> None:
    cam = view("gate")
    zone = Zone("lab", ((320, 150), (640, 150), (640, 480), (320, 480)), active=NIGHT)
    spec = CameraSpec("gate", "test://gate", zones=(zone,), rules=(Rule("restricted_zone", zone="lab"),),
                      detect_fps=5.0, motion_mask=OSD_MASK)
    frames = walk(cam, park_time(12), 5.0, 8.0, [(9.0, 5.0), (9.0, -5.0)], lead_in=1.0)
    src = FakeFrameSource("gate")
    published: list[str] = []

    class FakePublisher:
        async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
            published.append(topic)

    async with VisionRuntime([spec], FakePublisher(), tmp_path, detector=detector,
                             sources={"gate": src}) as runtime:
        for t, frame in frames:
            src.push(frame, t)
            await runtime.step()
        tracked = runtime.pipelines["gate"].tracker
        assert tracked is not None and tracked.objects  # the person was seen and tracked
    assert topics.EVENTS not in published
