"""Motion gate: static scenes and global light changes raise nothing; a moving object does."""

from __future__ import annotations

import numpy as np

from tests.vision.conftest import empty_scene
from vision.motion import MotionGate


def test_static_scene_has_no_motion() -> None:
    gate = MotionGate()
    scene = empty_scene(3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = np.clip(scene.astype(np.int16) + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
        assert not gate.update(noisy).moving


def test_global_brightness_jump_recalibrates() -> None:
    gate = MotionGate()
    scene = empty_scene(4)
    for _ in range(5):
        gate.update(scene)
    bright = np.clip(scene.astype(np.int16) + 80, 0, 255).astype(np.uint8)
    result = gate.update(bright)
    assert result.recalibrated and not result.moving
    assert gate.recalibrations == 1
    assert not gate.update(bright).moving  # new background, still calm


def test_moving_block_gives_region_near_it() -> None:
    gate = MotionGate()
    scene = empty_scene(5)
    for _ in range(5):
        gate.update(scene)
    frame = scene.copy()
    frame[200:300, 300:350] = (20, 20, 200)
    result = gate.update(frame)
    assert result.moving
    r = result.regions[0]
    assert r.x <= 300 and r.x + r.w >= 350 and r.y <= 200 and r.y + r.h >= 300
    assert r.w < 200 and r.h < 200


def test_masked_area_is_ignored() -> None:
    gate = MotionGate(mask=[((0, 0), (640, 0), (640, 40), (0, 40))])
    scene = empty_scene(6)
    gate.update(scene)
    frame = scene.copy()
    frame[5:30, 10:300] = 255  # an on-screen clock ticking
    assert not gate.update(frame).moving
