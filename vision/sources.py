"""Camera sources: one reader thread per camera that keeps only the newest frame.

OpenCV (FFmpeg backend) opens `rtsp://`, `http(s)://` MJPEG, video files and device indexes
("0", "1", ...). A read failure marks the camera offline; the reader reopens it with exponential
backoff and marks it online again at the first frame.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from vision.types import Frame

log = logging.getLogger(__name__)
_FPS_WINDOW = 5.0


@dataclass(frozen=True)
class CameraHealth:
    camera: str
    state: Literal["online", "offline"]
    fps: float
    last_frame_time: float | None
    reconnects: int
    error: str | None = None

    def payload(self) -> dict[str, object]:
        return {"camera": self.camera, "state": self.state, "fps": round(self.fps, 2),
                "last_frame_time": self.last_frame_time, "reconnects": self.reconnects, "error": self.error}


@dataclass(frozen=True)
class FramePacket:
    frame: Frame
    captured: float
    """Wall-clock time the frame was received."""
    seq: int


class FrameSource(Protocol):
    camera: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def latest(self) -> FramePacket | None: ...
    def health(self) -> CameraHealth: ...


@functools.cache
def _quiet_opencv() -> None:
    """OpenCV and FFmpeg print every failed open to stderr; the reader logs each failure itself (camera,
    reason, next retry), so theirs is noise in a service log. Explicit OPENCV_* settings still win."""
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def _open_capture(source: str, timeout_ms: int) -> cv2.VideoCapture:
    _quiet_opencv()
    if source.isdigit():
        return cv2.VideoCapture(int(source))
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


class CameraReader:
    """Reads one camera in a daemon thread; `latest()` returns the newest frame only."""

    def __init__(self, camera: str, source: str, *, timeout: float = 5.0, backoff_min: float = 0.5,
                 backoff_max: float = 30.0, loop_files: bool = False, file_fps: float | None = None) -> None:
        self.camera = camera
        self.source = source
        self.timeout = timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.loop_files = loop_files
        self.file_fps = file_fps
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._packet: FramePacket | None = None
        self._seq = 0
        self._online = False
        self._times: deque[float] = deque()
        self._last: float | None = None
        self._reconnects = 0
        self._error: str | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 2.0)
            self._thread = None

    def latest(self) -> FramePacket | None:
        with self._lock:
            return self._packet

    def health(self) -> CameraHealth:
        with self._lock:
            last = self._last
            online = self._online and last is not None and time.time() - last <= self.timeout
            fps = 0.0
            if online and len(self._times) > 1 and last is not None:
                fps = (len(self._times) - 1) / max(1e-3, last - self._times[0])
            return CameraHealth(self.camera, "online" if online else "offline", fps,
                                last, self._reconnects, self._error)

    def _run(self) -> None:
        backoff = self.backoff_min
        is_file = not self.source.isdigit() and "://" not in self.source
        while not self._stop.is_set():
            cap = _open_capture(self.source, round(self.timeout * 1000))
            got_any = False
            try:
                if not cap.isOpened():
                    self._set_error(f"cannot open {self.source}")
                else:
                    got_any = self._read_loop(cap, is_file)
            except cv2.error as exc:
                self._set_error(f"OpenCV error: {exc}")
            finally:
                cap.release()
            with self._lock:
                self._online = False
            if self._stop.is_set():
                break
            if is_file and got_any and self.loop_files:
                continue
            backoff = self.backoff_min if got_any else min(self.backoff_max, backoff * 2)
            with self._lock:
                self._reconnects += 1
            log.info("camera %s: offline, reconnecting in %.1f s (%s)", self.camera, backoff, self._error)
            self._stop.wait(backoff)

    def _read_loop(self, cap: cv2.VideoCapture, is_file: bool) -> bool:
        got_any = False
        period = 0.0
        if is_file:  # play files at their own frame rate (or file_fps), like a live camera
            native = cap.get(cv2.CAP_PROP_FPS)
            fps = self.file_fps or (native if 0 < native <= 240 else 0.0)
            period = 1.0 / fps if fps else 0.0
        while not self._stop.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                self._set_error("stream ended" if is_file else "read failed or timed out")
                return got_any
            now = time.time()
            got_any = True
            with self._lock:
                self._times.append(now)
                while self._times and now - self._times[0] > _FPS_WINDOW:
                    self._times.popleft()
                self._seq += 1
                self._packet = FramePacket(np.asarray(frame, dtype=np.uint8), now, self._seq)
                self._last = now
                self._online = True
                self._error = None
            if period:
                self._stop.wait(period)
        return got_any

    def _set_error(self, msg: str) -> None:
        with self._lock:
            self._error = msg
