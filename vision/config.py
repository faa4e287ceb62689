"""Camera descriptions: `CameraSpec` for in-process use, and the JSON file of `parkpatrol vision`.

JSON file (a list, or {"cameras": [...]}):

    {"cameras": [{
        "id": "gate-north", "source": "http://10.0.0.5:8081/mjpeg",
        "homography": [[...], [...], [...]],
        "zones": [{"name": "lab", "polygon": [[100, 300], [400, 300], [400, 470], [100, 470]],
                   "space": "image", "schedule": {"start": "20:00", "end": "06:00", "tz": "Asia/Shanghai"}}],
        "rules": [{"kind": "restricted_zone", "zone": "lab"}, {"kind": "fall"},
                  {"kind": "loitering", "seconds": 120}, {"kind": "crowd", "max_people": 8}],
        "detect_fps": 3
    }]}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vision.geometry import Homography, RobotCamera
from vision.rules import Rule, Zone
from vision.topics import valid_camera_id

Pose = tuple[float, float, float]


@dataclass(frozen=True)
class RobotMount:
    """A camera carried by a robot: `pose()` gives the robot's map pose (x, y, theta) or None."""

    robot_id: str
    camera: RobotCamera
    pose: Callable[[], Pose | None]


@dataclass(frozen=True)
class CameraSpec:
    """Everything the vision runtime needs about one camera (plain data, no map import)."""

    id: str
    source: str
    zones: tuple[Zone, ...] = ()
    rules: tuple[Rule, ...] = ()
    homography: Homography | None = None
    robot: RobotMount | None = None
    detect_fps: float = 3.0
    keepalive_s: float = 20.0
    motion_mask: tuple[tuple[tuple[float, float], ...], ...] = ()
    """Image polygons where motion is ignored (on-screen clock, swaying trees)."""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not valid_camera_id(self.id):
            raise ValueError(f"camera id {self.id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        names = {z.name for z in self.zones}
        for rule in self.rules:
            if rule.zone is not None and rule.zone not in names:
                raise ValueError(f"camera {self.id}: rule {rule.kind} names zone {rule.zone!r}, "
                                 f"which is not among its zones {sorted(names)}")
        if self.homography is None and self.robot is None and any(z.space == "ground" for z in self.zones):
            raise ValueError(f"camera {self.id}: map (ground) zones need the camera's homography")
        if self.detect_fps <= 0:
            raise ValueError(f"camera {self.id}: detect_fps must be > 0, got {self.detect_fps}")


def daily_window(start: str, end: str, tz: str | None = None) -> Callable[[float], bool]:
    """Schedule active between `start` and `end` ("HH:MM") each day; wraps past midnight."""
    zone = ZoneInfo(tz) if tz else None
    t0, t1 = dt.time.fromisoformat(start), dt.time.fromisoformat(end)

    def active(now: float) -> bool:
        t = dt.datetime.fromtimestamp(now, zone).time()
        return t0 <= t < t1 if t0 <= t1 else (t >= t0 or t < t1)

    return active


class ScheduleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str
    tz: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        dt.time.fromisoformat(v)
        return v


class ZoneModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    polygon: list[tuple[float, float]] = Field(min_length=3)
    space: Literal["image", "ground"] = "image"
    schedule: ScheduleModel | None = None


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["restricted_zone", "loitering", "fall", "crowd"]
    zone: str | None = None
    seconds: float = Field(60.0, gt=0)
    max_people: int = Field(5, ge=0)


class RobotCameraModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    robot_id: str
    width: int = 640
    height: int = 480
    hfov_deg: float = 90.0
    mount_height: float = 0.5
    pitch_deg: float = 10.0
    heading_deg: float = 0.0


class CameraModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    source: str
    zones: list[ZoneModel] = []
    rules: list[RuleModel] = []
    homography: list[list[float]] | None = None
    robot: RobotCameraModel | None = None
    detect_fps: float = Field(3.0, gt=0)
    keepalive_s: float = Field(20.0, gt=0)
    motion_mask: list[list[tuple[float, float]]] = []

    def to_spec(self, pose: Callable[[str], Pose | None] | None = None) -> CameraSpec:
        zones = tuple(
            Zone(z.name, tuple(z.polygon), z.space,
                 daily_window(z.schedule.start, z.schedule.end, z.schedule.tz) if z.schedule else None)
            for z in self.zones
        )
        rules = tuple(Rule(r.kind, r.zone, r.seconds, r.max_people) for r in self.rules)
        robot = None
        if self.robot is not None:
            r = self.robot
            cam = RobotCamera(r.width, r.height, r.hfov_deg, r.mount_height, r.pitch_deg, r.heading_deg)
            robot = RobotMount(r.robot_id, cam, _pose_of(r.robot_id, pose))
        hom = Homography.from_matrix(self.homography) if self.homography is not None else None
        mask = tuple(tuple(p) for p in self.motion_mask)
        return CameraSpec(self.id, self.source, zones, rules, hom, robot, self.detect_fps, self.keepalive_s, mask)


def _pose_of(robot_id: str, pose: Callable[[str], Pose | None] | None) -> Callable[[], Pose | None]:
    def current() -> Pose | None:
        return pose(robot_id) if pose is not None else None

    return current


class CamerasFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cameras: list[CameraModel]


class CameraConfigError(ValueError):
    """The cameras file is unreadable or invalid."""


def load_cameras(path: Path, pose: Callable[[str], Pose | None] | None = None) -> list[CameraSpec]:
    """Read a cameras JSON file; errors name the file and the offending field."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CameraConfigError(f"{path}: cannot read cameras file: {exc}") from exc
    if isinstance(raw, list):
        raw = {"cameras": raw}
    try:
        parsed = CamerasFile.model_validate(raw)
        specs = [c.to_spec(pose) for c in parsed.cameras]
    except (ValidationError, ValueError) as exc:
        raise CameraConfigError(f"{path}: invalid cameras file: {exc}") from exc
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise CameraConfigError(f"{path}: duplicate camera ids in {ids}")
    return specs
