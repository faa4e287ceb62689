"""Cameras file parsing (errors name file and field), schedules, and the `parkpatrol vision` worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path

import aiomqtt
import pytest

from patrol.broker import BrokerEndpoint
from tests.vision.test_sources import MjpegServer
from vision import topics
from vision.config import CameraConfigError, daily_window, load_cameras

REPO = Path(__file__).resolve().parents[2]


def test_load_cameras_builds_specs(tmp_path: Path) -> None:
    f = tmp_path / "cams.json"
    f.write_text(json.dumps({"cameras": [{
        "id": "gate-north", "source": "rtsp://10.0.0.5/stream1",
        "homography": [[0.01, 0, 0], [0, 0.01, 0], [0, 0, 1]],
        "zones": [{"name": "lab", "polygon": [[1, 1], [5, 1], [5, 4]], "space": "ground",
                   "schedule": {"start": "20:00", "end": "06:00", "tz": "Asia/Shanghai"}}],
        "rules": [{"kind": "restricted_zone", "zone": "lab"}, {"kind": "crowd", "max_people": 8}],
        "motion_mask": [[[0, 0], [300, 0], [300, 30]]],
    }, {"id": "dog1-front", "source": "http://dog1:8080/mjpeg", "robot": {"robot_id": "dog1"}}]}))
    gate, dog = load_cameras(f, pose=lambda rid: (1.0, 2.0, 0.0) if rid == "dog1" else None)
    assert gate.homography is not None and gate.rules[1].max_people == 8
    assert gate.zones[0].active is not None
    assert dog.robot is not None and dog.robot.pose() == (1.0, 2.0, 0.0)


@pytest.mark.parametrize(("body", "needle"), [
    ("{not json", "cannot read"),
    (json.dumps({"cameras": [{"id": "a", "source": "x", "colour": 1}]}), "colour"),
    (json.dumps([{"id": "a", "source": "x", "rules": [{"kind": "restricted_zone", "zone": "nope"}]}]), "nope"),
    (json.dumps([{"id": "bad id!", "source": "x"}]), "bad id!"),
    (json.dumps([{"id": "a", "source": "x"}, {"id": "a", "source": "y"}]), "duplicate"),
])
def test_bad_cameras_file_names_the_problem(tmp_path: Path, body: str, needle: str) -> None:
    f = tmp_path / "cams.json"
    f.write_text(body)
    with pytest.raises(CameraConfigError) as err:
        load_cameras(f)
    assert str(f) in str(err.value) and needle in str(err.value)


def test_daily_window_wraps_midnight() -> None:
    night = daily_window("20:00", "06:00", "UTC")
    at = [dt.datetime(2026, 1, 1, h, tzinfo=dt.UTC).timestamp() for h in (2, 12, 21)]
    assert [night(t) for t in at] == [True, False, True]


@pytest.mark.slow
@pytest.mark.model
async def test_worker_process_publishes_camera_status(broker: BrokerEndpoint, tmp_path: Path,
                                                      model_cache: Path) -> None:
    server = MjpegServer()
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps([{"id": "door", "source": server.url}]))
    code = ("import sys; from argparse import ArgumentParser; from vision.cli import add_commands; "
            "p = ArgumentParser(); add_commands(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); "
            "sys.exit(a.func(a))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "vision", "--broker", broker.url, "--cameras", str(cams),
        "--data-dir", str(model_cache), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=asyncio.subprocess.PIPE)
    try:
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.subscribe(topics.camera_status("door"), qos=1)
            async with asyncio.timeout(90):
                async for msg in client.messages:
                    if json.loads(bytes(msg.payload))["state"] == "online":
                        break
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()
