"""Snapshots of a separate vision worker: published with the event, stored by the service with the
same retention as its own, served by `GET /api/vision/events/{id}/snapshot.jpg` with the role check;
bad payloads are counted and dropped (real Mosquitto, real service)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import cv2
import numpy as np

from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from patrol.vision_service import RemoteSnapshots
from tests.support import running_service, service_settings
from vision import topics
from vision.cluster import AssignmentRecord, WorkerRecord
from vision.events import EventState, VisionEvent
from vision.mqtt import MqttPublisher
from vision.runtime import VisionRuntime
from vision.snapshots import MAX_SNAPSHOT_BYTES
from vision.types import Box


def scene(shade: int) -> np.ndarray:
    img = np.full((240, 320, 3), shade, np.uint8)
    cv2.rectangle(img, (100, 60), (160, 200), (30, 30, 200), -1)
    return img


def event(kind: str, eid: str, has_snapshot: bool = True) -> VisionEvent:
    state = EventState(id=eid, camera="gate", label="person", score=0.8, top_score=0.8, box=[100, 60, 160, 200],
                       area=8400, zones=[], current_zones=[], rules=["fall"], start_time=time.time(),
                       has_snapshot=has_snapshot)
    return VisionEvent(type=kind, before=state, after=state)  # type: ignore[arg-type]


async def test_worker_snapshot_is_stored_and_served(tmp_path: Path, broker: BrokerEndpoint,
                                                    database_url: str) -> None:
    eid = f"{time.time():.3f}-gate-1"
    settings = service_settings(tmp_path / "svc", broker, database_url)
    async with running_service(settings) as svc:
        assert await svc.runtime.bus.wait_connected(10)
        viewer = await svc.login_as(Role.VIEWER)
        url = f"/api/vision/events/{eid}/snapshot.jpg"
        assert (await svc.client.get(url, headers=viewer)).status_code == 404

        async def served(expected: bytes) -> None:
            for _ in range(100):
                r = await svc.client.get(url, headers=viewer)
                if r.status_code == 200 and r.content == expected:
                    assert r.headers["content-type"] == "image/jpeg"
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"{url} does not serve the worker's snapshot: {r.status_code}")

        async with MqttPublisher(broker.url) as pub, VisionRuntime(
                [], pub, tmp_path / "worker", detect=False, publish_snapshots=True, worker_id="w1") as worker:
            worker.snapshots.save(eid, scene(120), Box(100, 60, 160, 200), "person", 0.8)
            await worker._publish_event(event("new", eid), time.time())
            await served(worker.snapshots.get(eid))
            await worker._publish_event(event("update", eid), time.time())  # same snapshot: not sent again
            assert worker.stats.snapshots_published == 1
            worker.snapshots.save(eid, scene(180), Box(100, 60, 160, 200), "person", 0.9)  # a better one
            await worker._publish_event(event("end", eid), time.time())
            assert worker.stats.snapshots_published == 2
            await served(worker.snapshots.get(eid))
            await worker._publish_event(event("new", "no-snap-1", has_snapshot=False), time.time())
            assert worker.stats.snapshots_published == 2 and worker.stats.publish_errors == 0

        svc.client.cookies.clear()  # the login's session cookie
        assert (await svc.client.get(url)).status_code == 401
        r = await svc.client.get(f"{url}?boxes=true", headers=viewer)
        assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"  # no box data travels: as stored
        stored = Path(settings.data_dir) / "vision" / "snapshots" / f"{eid}.jpg"
        assert stored.exists()  # the service's own store, pruned with the same retention

        remote: RemoteSnapshots = svc.runtime.extras["vision_remote_snapshots"]
        before = remote.stats.rejected
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.publish(topics.snapshot("bad-1"), b"not a jpeg", qos=1)
            await client.publish(topics.snapshot("bad-2"), b"\xff\xd8\xff" + b"\0" * 100, qos=1)
            await client.publish(topics.snapshot("big-1"), b"\xff\xd8\xff" + b"\0" * MAX_SNAPSHOT_BYTES, qos=1)
            await client.publish("parkpatrol/vision/snapshots/has space", b"\xff\xd8\xff", qos=1)
        for _ in range(100):
            if remote.stats.rejected - before == 4:
                break
            await asyncio.sleep(0.05)
        assert remote.stats.rejected - before == 4, remote.stats
        for bad in ("bad-1", "bad-2", "big-1"):
            r = await svc.client.get(f"/api/vision/events/{bad}/snapshot.jpg", headers=viewer)
            assert r.status_code == 404, bad

        # the cluster view: worker records and assignments as the workers publish them
        record = WorkerRecord(id="w9", state="online", capacity=2, started_at=1.0, heartbeat=2.0)
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.publish(topics.worker("w9"), record.model_dump_json(), qos=1)
            await client.publish(topics.assignment("w9"), AssignmentRecord(
                worker="w9", cameras=["gate"], members=["w9"], at=3.0).model_dump_json(), qos=1)
            await client.publish(topics.worker("w8"), b'{"id": "w8"}', qos=1)
        for _ in range(100):
            r = await svc.client.get("/api/vision/workers", headers=viewer)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["workers"] and body["workers"][0]["cameras"] and body["bad_worker_records"]:
                break
            await asyncio.sleep(0.05)
        assert body["workers"] == [{"id": "w9", "state": "online", "capacity": 2.0, "started_at": 1.0,
                                    "heartbeat": 2.0, "cameras": ["gate"]}]
        assert body["bad_worker_records"] == 1 and body["remote_snapshots"]["stored"] == 2
