"""Incident photos: copied from the robot's own camera server (the simulator's, over real HTTP), refused
from anywhere else, served to logged-in users by the service."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from patrol.alarms.model import AlarmSignal, AlarmType
from patrol.alarms.photos import IncidentPhotos, PhotoError
from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from simulator.cameras import CameraServer
from simulator.render import CameraView, PersonPose
from tests.support import running_service, service_settings


def _jpeg() -> bytes:
    img = np.zeros((48, 64, 3), dtype=np.uint8)
    img[10:30, 20:40] = (0, 0, 255)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


PHOTO = _jpeg()


def _no_view() -> CameraView:
    raise AssertionError("no stream is watched in these tests")


def _no_people() -> list[PersonPose]:
    return []


def _photos(action_id: str) -> bytes | None:
    return PHOTO if action_id == "a-1" else None


def _server() -> CameraServer:
    server = CameraServer(park_time=lambda: 0.0)
    server.add_robot("dog-1", _no_view, _no_people, _photos)
    return server


async def test_a_photo_on_the_robots_camera_server_is_kept(tmp_path: Path) -> None:
    photos = IncidentPhotos(tmp_path)
    async with _server() as server:
        base = f"{server.base_url}/robots/dog-1"
        path = await photos.fetch(7, "a-1", f"{base}/photos/a-1.jpg", f"{base}.mjpg")
        assert path == "/api/incidents/7/photos/a-1.jpg"
        assert photos.get(7, "a-1") == PHOTO and photos.stored == 1
        with pytest.raises(PhotoError, match="HTTP 404"):  # the robot no longer has it
            await photos.fetch(7, "a-2", f"{base}/photos/a-2.jpg", f"{base}.mjpg")
        with pytest.raises(PhotoError, match="not a JPEG"):  # its index page is no photo
            await photos.fetch(7, "a-3", f"{server.base_url}/", f"{base}.mjpg")
    with pytest.raises(PhotoError, match="no photo"):
        photos.get(7, "a-2")


async def test_photos_from_elsewhere_are_refused(tmp_path: Path) -> None:
    photos = IncidentPhotos(tmp_path)
    async with _server() as server:
        url = f"{server.base_url}/robots/dog-1/photos/a-1.jpg"
        with pytest.raises(PhotoError, match="announced camera server"):  # a spoofed result pointing inside
            await photos.fetch(1, "a-1", url, f"http://127.0.0.1:{server.port + 1}/robots/dog-1.mjpg")
        with pytest.raises(PhotoError, match="none announced"):
            await photos.fetch(1, "a-1", url, None)
        with pytest.raises(PhotoError, match="announced camera server"):
            await photos.fetch(1, "a-1", "file:///etc/passwd", url)
        with pytest.raises(PhotoError, match="action id"):
            await photos.fetch(1, "../../x", url, url)
    assert photos.refused == 3 and photos.stored == 0
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_the_service_serves_a_kept_photo_on_the_incident(tmp_path: Path, broker: BrokerEndpoint,
                                                               database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc, _server() as server:
        alarms = svc.runtime.extras["alarms"]
        photos = svc.runtime.extras["incident_photos"]
        alarm = await alarms.signal(AlarmSignal("test:door", AlarmType.INTRUSION, "sensor_trip", position=(0.0, 0.0)))
        assert alarm.incident_id is not None
        base = f"{server.base_url}/robots/dog-1"
        path = await photos.fetch(alarm.incident_id, "a-1", f"{base}/photos/a-1.jpg", f"{base}.mjpg")
        await alarms.robot_photo(alarm.incident_id, "dog-1", path, {"action_id": "a-1"})
        assert (await svc.client.get(path)).status_code == 401
        viewer = await svc.login_as(Role.VIEWER)
        r = await svc.client.get(path, headers=viewer)
        assert r.status_code == 200 and r.content == PHOTO and r.headers["content-type"] == "image/jpeg"
        r = await svc.client.get(f"/api/incidents/{alarm.incident_id}/photos/nope.jpg", headers=viewer)
        assert r.status_code == 404 and "action_id" in r.text
        r = await svc.client.get(f"/api/incidents/{alarm.incident_id}/photos/a%20b.jpg", headers=viewer)
        assert r.status_code == 422 and "action_id" in r.text
        incident = await alarms.get_incident(alarm.incident_id)
        assert incident.timeline[-1].kind == "robot_photo" and incident.timeline[-1].detail["photo"] == path
