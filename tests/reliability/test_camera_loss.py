"""Camera stream loss and return, as the service sees it: a vision worker's `offline` status on
`parkpatrol/cameras/<id>/status` raises a camera-offline alarm at the camera's place; `online` ends
it. (The worker side — an MJPEG stream cut, detected and published — is
tests/vision/test_sources.py::test_runtime_publishes_offline_and_online.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from tests.reliability.helpers import close_client, paho_client
from tests.support import running_service, service_settings

pytestmark = pytest.mark.reliability


async def test_camera_offline_raises_an_alarm_and_online_ends_it(tmp_path: Path, broker: BrokerEndpoint,
                                                                   database_url: str) -> None:
    settings = service_settings(tmp_path, broker, database_url, vision={"enabled": False})
    async with running_service(settings) as svc:
        assert await svc.runtime.bus.wait_connected(10)
        viewer = await svc.login_as(Role.VIEWER)
        camera = next(iter(svc.runtime.park.cameras.values()))
        alarms: list[dict[str, Any]] = []

        async def poll() -> None:
            r = await svc.client.get("/api/alarms", params={"type": "camera_offline"}, headers=viewer)
            assert r.status_code == 200, r.text
            alarms[:] = r.json()

        async def has(pred: Any) -> None:
            for _ in range(100):
                await poll()
                if pred():
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"camera alarm not as expected: {alarms}")

        pub = paho_client(broker, "camera-loss-vision-worker")
        try:
            topic = f"parkpatrol/cameras/{camera.id}/status"
            pub.publish(topic, b"online", qos=1).wait_for_publish(5)
            pub.publish(topic, b"offline", qos=1).wait_for_publish(5)
            await has(lambda: any(a["source"] == f"camera:{camera.id}" for a in alarms))
            alarm = next(a for a in alarms if a["source"] == f"camera:{camera.id}")
            assert alarm["x"] == pytest.approx(camera.x) and alarm["y"] == pytest.approx(camera.y)
            pub.publish(topic, b"offline", qos=1).wait_for_publish(5)  # repeated: no second alarm
            pub.publish(topic, b"online", qos=1).wait_for_publish(5)
            await has(lambda: all(a["status"].startswith("CLEARED") for a in alarms
                                  if a["source"] == f"camera:{camera.id}"))
            assert len([a for a in alarms if a["source"] == f"camera:{camera.id}"]) == 1
        finally:
            close_client(pub)
