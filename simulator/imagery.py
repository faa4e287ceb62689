"""Real person imagery for simulated cameras: people cut from the photos ultralytics ships.

The boxes are fixed (chosen once by running the packaged person model on the photos); each
cut-out gets a soft alpha mask from GrabCut so it can be composited onto a rendered scene.
Computed lazily once per process and cached.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _Source:
    photo: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in the photo


# Whole-body people in ultralytics/assets/bus.jpg (810 x 1080).
_SOURCES = (
    _Source("bus.jpg", (50, 383, 212, 905)),
    _Source("bus.jpg", (214, 391, 346, 872)),
)


class ImageryError(RuntimeError):
    """The person photos could not be found or read."""


@dataclass(frozen=True)
class PersonSprite:
    """A person cut-out: BGR pixels and an alpha mask in 0..1, feet at the bottom row."""

    image: Image
    alpha: Mask

    @property
    def aspect(self) -> float:
        """Width / height."""
        return float(self.image.shape[1]) / float(self.image.shape[0])


def assets_dir() -> Path:
    """ultralytics/assets inside the installed ultralytics package (without importing it)."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ImageryError("the ultralytics package is not installed; `pip install ultralytics` provides "
                           "the person photos the simulated cameras use")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "assets"
        if (candidate / "bus.jpg").is_file():
            return candidate
    raise ImageryError("ultralytics/assets/bus.jpg is missing from the installed ultralytics package")


def _cut(photo: Image, box: tuple[int, int, int, int]) -> PersonSprite:
    x1, y1, x2, y2 = box
    h, w = photo.shape[:2]
    pad_x, pad_y = max(4, (x2 - x1) // 8), max(4, (y2 - y1) // 20)
    X1, Y1, X2, Y2 = max(0, x1 - pad_x), max(0, y1 - pad_y), min(w, x2 + pad_x), min(h, y2 + pad_y)
    crop = np.ascontiguousarray(photo[Y1:Y2, X1:X2])
    mask = np.zeros(crop.shape[:2], np.uint8)
    rect = (x1 - X1, y1 - Y1, x2 - x1, y2 - y1)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(12345)
    cv2.grabCut(crop, mask, rect, bgd, fgd, 4, cv2.GC_INIT_WITH_RECT)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8) * 255
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # keep the largest blob (the person), drop stray background fragments
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = np.where(labels == biggest, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(fg)
    if len(xs) == 0:
        raise ImageryError(f"GrabCut found no person in box {box}")
    bx1, bx2, by1, by2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    alpha = cv2.GaussianBlur(fg, (5, 5), 0).astype(np.float32) / 255.0
    return PersonSprite(np.ascontiguousarray(crop[by1:by2, bx1:bx2]),
                        np.ascontiguousarray(alpha[by1:by2, bx1:bx2]))


_sprites: tuple[PersonSprite, ...] | None = None
_sprites_lock = threading.Lock()


def person_sprites() -> tuple[PersonSprite, ...]:
    """All person cut-outs, each also mirrored: deterministic, made once per process. One thread makes
    them while the others wait (the simulation's warm-up thread and a camera's first frame could decode
    and cut the same photos at the same time; a crash inside OpenCV's `imread` was once seen in that
    warm-up, cause unknown, so they no longer overlap)."""
    global _sprites
    if _sprites is None:
        with _sprites_lock:
            if _sprites is None:
                _sprites = _make_sprites()
    return _sprites


def _make_sprites() -> tuple[PersonSprite, ...]:
    root = assets_dir()
    photos: dict[str, Image] = {}
    sprites: list[PersonSprite] = []
    for src in _SOURCES:
        if src.photo not in photos:
            img = cv2.imread(str(root / src.photo), cv2.IMREAD_COLOR)
            if img is None:
                raise ImageryError(f"cannot read {root / src.photo}")
            photos[src.photo] = img.astype(np.uint8)
        sprite = _cut(photos[src.photo], src.box)
        sprites.append(sprite)
        sprites.append(PersonSprite(np.ascontiguousarray(sprite.image[:, ::-1]),
                                    np.ascontiguousarray(sprite.alpha[:, ::-1])))
    log.debug("prepared %d person sprites from %s", len(sprites), root)
    return tuple(sprites)


def sprite(appearance: int) -> PersonSprite:
    sprites = person_sprites()
    return sprites[appearance % len(sprites)]
