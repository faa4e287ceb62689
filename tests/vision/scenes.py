"""Simulated camera scenes for vision tests (rendered by simulator.render with real person imagery)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from simulator.render import CameraView, PersonPose, render_frame
from vision.sources import CameraHealth, FramePacket
from vision.types import Frame

OSD_MASK = (((0.0, 0.0), (330.0, 0.0), (330.0, 28.0), (0.0, 28.0)),)
"""Image area of the renderer's on-screen clock, ignored by motion gating."""


def park_time(hour: int, minute: int = 0) -> float:
    """Epoch seconds at `hour`:`minute` park local time (UTC+8) on a fixed day."""
    tz = dt.timezone(dt.timedelta(hours=8))
    return dt.datetime(2026, 11, 28, hour, minute, tzinfo=tz).timestamp()


def view(camera_id: str = "cam1") -> CameraView:
    return CameraView.pinhole(camera_id, 0.0, 0.0, 0.0, height_m=6.0, pitch_deg=18.0, hfov_deg=70.0)


def walk(cam: CameraView, t0: float, fps: float, seconds: float, path: list[tuple[float, float]],
         appearance: int = 0, lead_in: float = 0.0) -> list[tuple[float, Frame]]:
    """Frames of one person walking along `path` (map points) after `lead_in` empty seconds."""
    n = int(seconds * fps)
    frames: list[tuple[float, Frame]] = []
    if len(path) < 2:
        return [(t0 + i / fps, render_frame(cam, [], t0 + i / fps)) for i in range(n)]
    pts = np.asarray(path, dtype=np.float64)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    total = float(seg.sum())
    walk_n = max(1, int((seconds - lead_in) * fps))
    for i in range(n):
        t = t0 + i / fps
        k = i - int(lead_in * fps)
        people: list[PersonPose] = []
        if 0 <= k < walk_n:
            d = total * k / max(1, walk_n - 1)
            j = int(np.searchsorted(np.cumsum(seg), d, side="right"))
            j = min(j, len(seg) - 1)
            before = float(np.cumsum(seg)[j - 1]) if j > 0 else 0.0
            f = (d - before) / seg[j] if seg[j] else 0.0
            x, y = pts[j] + f * (pts[j + 1] - pts[j])
            people.append(PersonPose("p1", float(x), float(y), appearance=appearance))
        frames.append((t, render_frame(cam, people, t)))
    return frames


class FakeFrameSource:
    """A frame source the test pushes frames into (stands in for a camera reader)."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self._packet: FramePacket | None = None
        self._seq = 0
        self.online = True

    def push(self, frame: Frame, t: float) -> None:
        self._seq += 1
        self._packet = FramePacket(frame, t, self._seq)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def latest(self) -> FramePacket | None:
        return self._packet

    def health(self) -> CameraHealth:
        last = self._packet.captured if self._packet else None
        return CameraHealth(self.camera, "online" if self.online else "offline", 5.0, last, 0)
