"""MJPEG-over-HTTP server for the simulated fixed cameras and robot cameras (asyncio streams only).

Routes (GET or HEAD):
- `/cameras/<id>.mjpg`, `/robots/<serial>.mjpg`: `multipart/x-mixed-replace` stream, as IP cameras serve;
- `/cameras/<id>.jpg`, `/robots/<serial>.jpg`: the current frame;
- `/robots/<serial>/photos/<action_id>.jpg`: a photo taken by a robot's `capturePhoto` action;
- `/`: JSON index of the streams.

Frames are rendered only while someone watches, at most `fps` per second per camera, shared by
all viewers, in a worker thread so the event loop keeps serving MQTT. A dropped camera
(fault injection) closes its open streams and answers 503 until restored. Streams are paced
in real time: HTTP clients are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from simulator.render import CameraView, PersonPose, encode_jpeg, render_frame

log = logging.getLogger(__name__)

ViewFn = Callable[[], CameraView]
PeopleFn = Callable[[], Sequence[PersonPose]]
PhotoFn = Callable[[str], bytes | None]

_ROUTE = re.compile(r"^/(cameras|robots)/([A-Za-z0-9_.:\-]+?)(?:/photos/([A-Za-z0-9_.:\-]+))?\.(mjpg|jpg)$")
BOUNDARY = "frame"


@dataclass
class _Source:
    view: ViewFn
    people: PeopleFn
    photos: PhotoFn | None = None
    slot: int = -1
    jpeg: bytes = b""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    dropped: bool = False
    frames: int = 0


class CameraServer:
    """Serves every simulated camera over HTTP on one port."""

    def __init__(self, *, park_time: Callable[[], float], host: str = "127.0.0.1", port: int = 0,
                 fps: float = 5.0, quality: int = 80) -> None:
        self._park_time = park_time
        self.host = host
        self.port = port
        self.fps = fps
        self.quality = quality
        self._sources: dict[str, _Source] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------ registry
    def add_camera(self, camera_id: str, view: ViewFn, people: PeopleFn) -> str:
        self._sources[f"cameras/{camera_id}"] = _Source(view, people)
        return f"{self.base_url}/cameras/{camera_id}.mjpg"

    def add_robot(self, serial: str, view: ViewFn, people: PeopleFn, photos: PhotoFn | None = None) -> str:
        self._sources[f"robots/{serial}"] = _Source(view, people, photos)
        return f"{self.base_url}/robots/{serial}"

    def camera_url(self, camera_id: str) -> str:
        return f"{self.base_url}/cameras/{camera_id}.mjpg"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def drop(self, key: str) -> None:
        """Take a stream down (`cameras/<id>` or `robots/<serial>`): open streams close, new ones get 503."""
        src = self._sources[key]
        src.dropped = True
        for w in list(src.writers):
            w.transport.abort()
        src.writers.clear()

    def restore(self, key: str) -> None:
        self._sources[key].dropped = False

    def frames_rendered(self, key: str) -> int:
        return self._sources[key].frames

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> CameraServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("camera server on %s (%d streams)", self.base_url, len(self._sources))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
            self._closing.set()
            for src in self._sources.values():
                for w in list(src.writers):
                    w.transport.abort()
            if self._tasks:
                # let handlers see the closed sockets and return (cancelling a stream handler task makes
                # asyncio log an error from its connection callback on Python 3.11)
                _, pending = await asyncio.wait(list(self._tasks), timeout=2.0)
                for task in pending:
                    task.cancel()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ frames
    async def jpeg(self, key: str) -> bytes:
        """The current JPEG of a stream, rendered at most once per frame slot."""
        src = self._sources[key]
        async with src.lock:
            slot = int(self._park_time() * self.fps)
            if slot != src.slot or not src.jpeg:
                view, people, t = src.view(), list(src.people()), self._park_time()
                src.jpeg = await asyncio.to_thread(_render_jpeg, view, people, t, self.quality)
                src.slot = slot
                src.frames += 1
            return src.jpeg

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("camera server: request failed")
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(10.0):
            request = await reader.readline()
        while True:  # skip headers
            async with asyncio.timeout(10.0):
                line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
        parts = request.decode("latin-1").split()
        if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
            await _respond(writer, 405, "text/plain", b"only GET and HEAD\n")
            return
        method, path = parts[0], parts[1].split("?", 1)[0]
        if path in ("/", "/cameras", "/index.json"):
            index = {key: {"mjpg": f"{self.base_url}/{key}.mjpg", "jpg": f"{self.base_url}/{key}.jpg",
                           "online": not src.dropped} for key, src in self._sources.items()}
            await _respond(writer, 200, "application/json", json.dumps(index).encode(), head=method == "HEAD")
            return
        m = _ROUTE.match(path)
        key = f"{m.group(1)}/{m.group(2)}" if m else ""
        src = self._sources.get(key)
        if m is None or src is None:
            await _respond(writer, 404, "text/plain", f"no stream at {path}; see / for the index\n".encode())
            return
        if src.dropped:
            await _respond(writer, 503, "text/plain", f"{key} is offline\n".encode())
            return
        if m.group(3) is not None:
            photo = src.photos(m.group(3)) if src.photos is not None else None
            if photo is None or m.group(4) != "jpg":
                await _respond(writer, 404, "text/plain", f"no photo {m.group(3)} from {key}\n".encode())
                return
            await _respond(writer, 200, "image/jpeg", photo, head=method == "HEAD")
            return
        if m.group(4) == "jpg":
            await _respond(writer, 200, "image/jpeg", await self.jpeg(key), head=method == "HEAD")
            return
        await self._stream(key, src, writer, head=method == "HEAD")

    async def _stream(self, key: str, src: _Source, writer: asyncio.StreamWriter, *, head: bool) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY.encode() + b"\r\n"
            b"Cache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n")
        await writer.drain()
        if head:
            return
        src.writers.add(writer)
        try:
            loop = asyncio.get_running_loop()
            period = 1.0 / self.fps
            while not src.dropped and not writer.is_closing() and not self._closing.is_set():
                started = loop.time()
                jpeg = await self.jpeg(key)
                writer.write(b"--" + BOUNDARY.encode() + b"\r\nContent-Type: image/jpeg\r\n"
                             + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):  # paced in real time; wakes early on shutdown
                    async with asyncio.timeout(max(0.0, period - (loop.time() - started))):
                        await self._closing.wait()
        finally:
            src.writers.discard(writer)


def _render_jpeg(view: CameraView, people: Sequence[PersonPose], t: float, quality: int) -> bytes:
    return encode_jpeg(render_frame(view, people, t), quality)


async def _respond(writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes, *, head: bool = False) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                 f"Cache-Control: no-cache\r\nConnection: close\r\n\r\n".encode() + (b"" if head else body))
    await writer.drain()
