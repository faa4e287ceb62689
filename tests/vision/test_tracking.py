"""Tracker confirmation by median score, area limits, stationary objects, expiry."""

from __future__ import annotations

from vision.tracking import ObjectTracker, TrackerConfig
from vision.types import Box, Detection

LABELS = ["person", "person_fallen"]


def det(x: float, score: float, cls: int = 0, w: float = 40, h: float = 100) -> Detection:
    return Detection(LABELS[cls], score, Box(x, 200, x + w, 200 + h), cls)


def test_confirmation_needs_median_of_recent_scores() -> None:
    tr = ObjectTracker("c", (640, 480), TrackerConfig(confirm_score=0.5, min_hits=3))
    scores = [0.9, 0.4, 0.42, 0.41, 0.6, 0.7, 0.8]
    confirmed_at = None
    for i, s in enumerate(scores):
        seen = tr.update([det(100 + 3 * i, s)], float(i), LABELS)
        assert len(seen) <= 1
        if seen and seen[0].confirmed and confirmed_at is None:
            confirmed_at = i
    assert confirmed_at is not None and confirmed_at >= 5  # one high score alone is not enough
    obj = tr.active()[0]
    assert obj.top_score == 0.9 and obj.hits == len(scores)


def test_weak_flicker_never_confirms() -> None:
    tr = ObjectTracker("c", (640, 480), TrackerConfig(confirm_score=0.5))
    for i in range(10):
        tr.update([det(300, 0.4 if i % 3 else 0.55)], float(i), LABELS)
    assert not any(o.confirmed for o in tr.active())


def test_area_limits_drop_tiny_and_huge_boxes() -> None:
    tr = ObjectTracker("c", (640, 480), TrackerConfig(min_area=0.001, max_area=0.5))
    tiny = Detection("person", 0.9, Box(10, 10, 13, 14))
    huge = Detection("person", 0.9, Box(0, 0, 640, 470))
    for i in range(3):
        assert tr.update([tiny, huge], float(i), LABELS) == []


def test_stationary_and_expiry_and_label_majority() -> None:
    tr = ObjectTracker("c", (640, 480), TrackerConfig(stationary_after=3.0, expire_after=2.0))
    for i in range(6):
        tr.update([det(200, 0.8, cls=1 if i >= 2 else 0)], float(i), LABELS)
    obj = tr.active()[0]
    assert obj.stationary
    assert obj.label == "person_fallen"
    assert tr.expire(6.0) == []
    assert [o.id for o in tr.expire(8.5)] == [obj.id]
    assert tr.active() == []
