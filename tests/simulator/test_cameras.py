"""The MJPEG camera server: streams, stills, photos, drops."""

from __future__ import annotations

import math

import cv2
import httpx
import numpy as np

from simulator.cameras import CameraServer
from simulator.render import CameraView, PersonPose

NOON = 1773633600.0


def _view() -> CameraView:
    return CameraView.pinhole("cam-a", 0.0, 0.0, math.pi / 2, height_m=4.0, pitch_deg=15.0)


def _decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


async def test_mjpeg_stream_still_and_index() -> None:
    people = [PersonPose("p", 0.0, 9.0)]
    t = {"now": NOON}
    async with CameraServer(park_time=lambda: t["now"], fps=20.0) as server:
        server.add_camera("cam-a", _view, lambda: people)
        server.add_robot("dog-01", _view, lambda: [], photos=lambda aid: b"\xff\xd8photo" if aid == "p1" else None)
        base = server.base_url
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
            index = (await http.get("/")).json()
            assert set(index) == {"cameras/cam-a", "robots/dog-01"}
            still = await http.get("/cameras/cam-a.jpg")
            assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"
            assert _decode(still.content).shape == (480, 640, 3)
            frames: list[bytes] = []
            async with http.stream("GET", "/cameras/cam-a.mjpg") as resp:
                assert resp.headers["content-type"].startswith("multipart/x-mixed-replace")
                buf = b""
                async for chunk in resp.aiter_bytes():
                    buf += chunk
                    while True:
                        start = buf.find(b"\xff\xd8")
                        end = buf.find(b"\xff\xd9", start + 2)
                        if start < 0 or end < 0:
                            break
                        frames.append(buf[start:end + 2])
                        buf = buf[end + 2:]
                        t["now"] += 1.0
                    if len(frames) >= 3:
                        break
            assert len(frames) >= 3
            assert all(_decode(f).shape == (480, 640, 3) for f in frames)
            assert server.frames_rendered("cameras/cam-a") >= 2
            photo = await http.get("/robots/dog-01/photos/p1.jpg")
            assert photo.content == b"\xff\xd8photo"
            assert (await http.get("/robots/dog-01/photos/nope.jpg")).status_code == 404
            assert (await http.get("/cameras/unknown.mjpg")).status_code == 404
            assert (await http.post("/cameras/cam-a.jpg")).status_code == 405
            server.drop("cameras/cam-a")
            assert (await http.get("/cameras/cam-a.jpg")).status_code == 503
            server.restore("cameras/cam-a")
            assert (await http.get("/cameras/cam-a.jpg")).status_code == 200


async def test_drop_closes_an_open_stream() -> None:
    async with CameraServer(park_time=lambda: NOON, fps=20.0) as server:
        server.add_camera("cam-a", _view, lambda: [])
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            received = 0
            async with http.stream("GET", "/cameras/cam-a.mjpg") as resp:
                try:
                    async for chunk in resp.aiter_bytes():
                        received += len(chunk)
                        if received > 20_000:
                            server.drop("cameras/cam-a")
                    ended = True
                except httpx.HTTPError:
                    ended = True
            assert ended and received > 20_000
