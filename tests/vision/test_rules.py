"""Rules: restricted zone by schedule (night vs day), fall, loitering, crowd, map zones via homography."""

from __future__ import annotations

import datetime as dt

from vision.config import daily_window
from vision.geometry import Homography, RobotCamera
from vision.rules import Rule, RuleEngine, Zone
from vision.tracking import TrackedObject
from vision.types import Box

NIGHT = daily_window("20:00", "06:00", "UTC")


def obj(oid: str, x: float, foot_y: float = 400, label: str = "person", confirmed: bool = True) -> TrackedObject:
    o = TrackedObject(id=oid, track_id=1, box=Box(x, foot_y - 100, x + 40, foot_y), score=0.8,
                      first_seen=0.0, last_seen=0.0, confirmed=confirmed)
    o.labels.append(label)
    return o


def ts(hour: int) -> float:
    return dt.datetime(2026, 11, 28, hour, 0, tzinfo=dt.UTC).timestamp()


LAB = Zone("lab", ((300, 300), (600, 300), (600, 479), (300, 479)), active=NIGHT)


def test_restricted_zone_only_at_night() -> None:
    eng = RuleEngine([LAB], [Rule("restricted_zone", zone="lab")])
    inside, outside = obj("a", 400), obj("b", 50)
    night = eng.evaluate([inside, outside], ts(23))
    assert [r.kind for r in night.hits["a"]] == ["restricted_zone"]
    assert "b" not in night.hits
    assert night.zones == {"a": ["lab"], "b": []}
    assert eng.evaluate([inside], ts(12)).hits == {}


def test_unconfirmed_objects_raise_nothing() -> None:
    eng = RuleEngine([LAB], [Rule("restricted_zone", zone="lab")])
    assert eng.evaluate([obj("a", 400, confirmed=False)], ts(23)).hits == {}


def test_fall_rule() -> None:
    eng = RuleEngine([], [Rule("fall")])
    ev = eng.evaluate([obj("a", 100, label="person_fallen"), obj("b", 300)], 0.0)
    assert list(ev.hits) == ["a"]


def test_loitering_after_t_seconds_in_zone() -> None:
    eng = RuleEngine([Zone("door", ((0, 0), (200, 0), (200, 479), (0, 479)))],
                     [Rule("loitering", zone="door", seconds=30)])
    a = obj("a", 50)
    assert eng.evaluate([a], 100.0).hits == {}
    assert eng.evaluate([a], 120.0).hits == {}
    assert [r.kind for r in eng.evaluate([a], 131.0).hits["a"]] == ["loitering"]
    eng.evaluate([obj("a", 400)], 132.0)  # leaves the zone: the clock restarts
    assert eng.evaluate([a], 140.0).hits == {}


def test_crowd_more_than_k_people() -> None:
    eng = RuleEngine([], [Rule("crowd", max_people=3)])
    three = [obj(str(i), 40.0 * i) for i in range(3)]
    assert eng.evaluate(three, 0.0).crowd == []
    four = [*three, obj("x", 500)]
    hits = eng.evaluate(four, 0.0).crowd
    assert len(hits) == 1 and len(hits[0].object_ids) == 4


def test_map_zone_through_homography() -> None:
    # image (u, v) -> ground (u / 100, v / 100): a 1 cm per pixel top-down camera
    hom = Homography.from_matrix([[0.01, 0, 0], [0, 0.01, 0], [0, 0, 1]])
    yard = Zone("yard", ((3.0, 3.0), (6.0, 3.0), (6.0, 5.0), (3.0, 5.0)), space="ground")
    eng = RuleEngine([yard], [Rule("restricted_zone", zone="yard")], homography=hom)
    ev = eng.evaluate([obj("in", 400, foot_y=420), obj("out", 100, foot_y=420)], 0.0)
    assert list(ev.hits) == ["in"]


def test_robot_camera_places_detection_ahead_of_robot() -> None:
    cam = RobotCamera(width=640, height=480, hfov_deg=90, mount_height=0.5, pitch_deg=20)
    hom = cam.homography(10.0, 5.0, 0.0)  # robot at (10, 5) facing +x (east)
    x, y = hom.to_ground(320, 479) or (0.0, 0.0)
    assert 10.2 < x < 11.0 and abs(y - 5.0) < 1e-6
    left = hom.to_ground(0, 479)
    assert left is not None and left[1] > 5.0  # image left = north when facing east
    assert hom.to_ground(320, 50) is None  # above the horizon
