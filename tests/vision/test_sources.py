"""Camera readers against a local MJPEG HTTP server: frames flow, stream loss -> offline, return -> online,
and the runtime publishes each change on parkpatrol/cameras/<id>/status (real Mosquitto)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import cv2
import numpy as np
import pytest

from patrol.broker import BrokerEndpoint
from vision import topics
from vision.config import CameraSpec
from vision.detector import Detector
from vision.mqtt import MqttPublisher
from vision.runtime import VisionRuntime
from vision.sources import CameraReader


class MjpegServer:
    """A tiny MJPEG (multipart/x-mixed-replace) camera on 127.0.0.1, port chosen by the OS."""

    def __init__(self, fps: float = 10.0) -> None:
        self.up = threading.Event()
        self.up.set()
        self.fps = fps
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not server.up.is_set():
                    self.send_error(503, "camera down")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while server.up.is_set():
                    img = np.full((240, 320, 3), 60 + i % 100, np.uint8)
                    _, jpg = cv2.imencode(".jpg", img)
                    data = jpg.tobytes()
                    try:
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                    except OSError:
                        return
                    i += 1
                    time.sleep(1.0 / server.fps)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.up.clear()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def camera_server() -> Iterator[MjpegServer]:
    srv = MjpegServer()
    try:
        yield srv
    finally:
        srv.close()


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_reader_keeps_newest_frame_and_recovers(camera_server: MjpegServer) -> None:
    reader = CameraReader("door", camera_server.url, timeout=1.0, backoff_min=0.2, backoff_max=1.0)
    reader.start()
    try:
        assert wait_for(lambda: reader.health().state == "online"), reader.health()
        first = reader.latest()
        assert first is not None and first.frame.shape == (240, 320, 3)
        assert wait_for(lambda: (p := reader.latest()) is not None and p.seq > first.seq)
        camera_server.up.clear()
        assert wait_for(lambda: reader.health().state == "offline"), reader.health()
        assert reader.health().error
        camera_server.up.set()
        assert wait_for(lambda: reader.health().state == "online"), reader.health()
        assert reader.health().reconnects >= 1
    finally:
        reader.stop()


@pytest.mark.model
async def test_runtime_publishes_offline_and_online(
    camera_server: MjpegServer, broker: BrokerEndpoint, detector: Detector, tmp_path: Path
) -> None:
    spec = CameraSpec("door", camera_server.url)
    reader = CameraReader("door", camera_server.url, timeout=1.0, backoff_min=0.2, backoff_max=1.0)
    states: list[str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def collect(ready: asyncio.Event) -> None:
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.subscribe(topics.camera_status("door"), qos=1)
            ready.set()
            async for msg in client.messages:
                state = json.loads(bytes(msg.payload))["state"]
                states.append(state)
                queue.put_nowait(state)

    ready = asyncio.Event()
    collector = asyncio.create_task(collect(ready))
    await asyncio.wait_for(ready.wait(), 10)

    async def until(state: str) -> None:
        async with asyncio.timeout(20):
            while await queue.get() != state:
                pass

    async with MqttPublisher(broker.url) as pub, VisionRuntime(
        [spec], pub, tmp_path, detector=detector, sources={"door": reader}, poll_interval=0.05
    ) as runtime:
        task = asyncio.create_task(runtime.run())
        try:
            await until("online")
            camera_server.up.clear()
            await until("offline")
            camera_server.up.set()
            await until("online")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    await until("offline")  # the runtime says goodbye for its cameras
    collector.cancel()
    changes = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert changes[-4:] == ["online", "offline", "online", "offline"], states


def test_reader_plays_a_video_file_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (160, 120))
    assert writer.isOpened()
    for i in range(10):
        writer.write(np.full((120, 160, 3), 20 * i, np.uint8))
    writer.release()
    reader = CameraReader("file", str(path), timeout=2.0, loop_files=True, backoff_min=0.1)
    reader.start()
    try:
        assert wait_for(lambda: (p := reader.latest()) is not None and p.seq > 12)  # looped past the end
        packet = reader.latest()
        assert packet is not None and packet.frame.shape == (120, 160, 3)
    finally:
        reader.stop()
