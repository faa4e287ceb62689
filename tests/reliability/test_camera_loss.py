"""Camera stream loss and return, as the service sees it: a vision worker's `offline` status on
`parkpatrol/cameras/<id>/status` raises a camera-offline alarm at the camera's place; `online` ends
it. (The worker side — an MJPEG stream cut, detected and published — is
tests/vision/test_sources.py::test_runtime_publishes_offline_and_online.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from asyncio.subprocess import Process
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from tests.reliability.helpers import close_client, paho_client
from tests.support import running_service, service_settings
from tests.vision.test_sources import MjpegServer

REPO = Path(__file__).resolve().parents[2]

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


VISION_CLI = ("import sys; from argparse import ArgumentParser; from vision.cli import add_commands; "
              "p = ArgumentParser(); add_commands(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); "
              "sys.exit(a.func(a))")


async def _vision_worker(broker: BrokerEndpoint, cams: Path, worker_id: str, data_dir: Path) -> Process:
    """A real `parkpatrol vision` cluster worker (health only: streams read, no model), status every 0.5 s."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", VISION_CLI, "vision", "--broker", broker.url, "--cameras", str(cams),
        "--worker-id", worker_id, "--health-only", "--status-interval", "0.5", "--keepalive", "60",
        "--data-dir", str(data_dir), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_camera_left_unwatched_by_a_killed_worker_is_raised(tmp_path: Path, private_broker: BrokerEndpoint,
                                                                  database_url: str) -> None:
    """A vision worker killed outright (no hand-over; its retained `online` stays behind, and its last
    will only fires after 1.5 keepalives) leaves its camera unwatched: the service raises camera offline
    once the status is silent past `sensors.camera_status_stale_s`, and the next worker's status ends it.
    A private broker: the workers' retained records and camera status must not reach other tests."""
    broker = private_broker
    settings = service_settings(tmp_path, broker, database_url,
                                sensors={"tick_s": 0.2, "camera_status_stale_s": 3.0})
    server = MjpegServer()
    workers: list[Process] = []
    try:
        async with running_service(settings) as svc:
            assert await svc.runtime.bus.wait_connected(10)
            viewer = await svc.login_as(Role.VIEWER)
            camera = next(iter(svc.runtime.park.cameras.values()))
            cams = tmp_path / "cams.json"
            cams.write_text(json.dumps([{"id": camera.id, "source": server.url}]))

            async def camera_alarms() -> list[dict[str, Any]]:
                r = await svc.client.get("/api/alarms", params={"type": "camera_offline"}, headers=viewer)
                assert r.status_code == 200, r.text
                return [a for a in r.json() if a["source"] == f"camera:{camera.id}"]

            async def status_online() -> None:
                async with aiomqtt.Client(broker.host, broker.port) as client:
                    await client.subscribe(f"parkpatrol/cameras/{camera.id}/status", qos=1)
                    async with asyncio.timeout(60):
                        async for msg in client.messages:
                            if json.loads(bytes(msg.payload)).get("state") == "online":
                                return

            workers.append(await _vision_worker(broker, cams, "w1", tmp_path / "w1"))
            await status_online()
            await asyncio.sleep(4.5)  # longer than the stale limit: a live worker's refreshes keep it quiet
            assert await camera_alarms() == []
            workers[0].kill()
            await workers[0].wait()
            for _ in range(100):
                raised = await camera_alarms()
                if raised:
                    break
                await asyncio.sleep(0.1)
            assert len(raised) == 1, raised
            assert raised[0]["details"]["reason"] == "status silent", raised[0]
            assert "no vision worker is watching it" in raised[0]["message"]
            assert raised[0]["x"] == pytest.approx(camera.x) and raised[0]["y"] == pytest.approx(camera.y)
            workers.append(await _vision_worker(broker, cams, "w2", tmp_path / "w2"))
            await status_online()
            for _ in range(100):
                after = await camera_alarms()
                if after and all(a["status"].startswith("CLEARED") for a in after):
                    break
                await asyncio.sleep(0.1)
            assert len(after) == 1 and after[0]["status"].startswith("CLEARED"), after
    finally:
        for proc in workers:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(30):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        server.close()
