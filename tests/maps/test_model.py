"""The shipped parks load, meet the sample-park requirements, and the model behaves."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import maps
from maps import LatLon, LocalFrame, Park, WeeklySchedule

REQUIRED_POIS = [
    "gate_north", "gate_south", "office_a1", "office_a2", "office_a3", "office_a4", "office_b1",
    "office_b2", "office_b3", "office_b4", "talent_apartments", "canteen", "data_labelling_centre",
    "computing_centre", "service_centre", "parking_p1", "parking_p2", "ebike_charging", "security_room",
    "clinic", "kindergarten", "convenience_store", "kiosk",
]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_sample_park_meets_the_issue_minimums(sample_park: Park) -> None:
    park = sample_park
    assert len(park.waypoints) >= 80
    assert len(park.pois) >= 15
    assert len(park.zones) >= 5
    assert len(park.checkpoints) >= 12
    assert len(park.cameras) >= 8
    assert len(park.sensors) >= 40
    assert len(park.chargers) >= 3
    assert set(REQUIRED_POIS) <= set(park.pois)
    assert "kiosk" in park.waypoints
    assert abs(park.origin.lat - 29.58) < 0.01 and abs(park.origin.lon - 105.06) < 0.01
    xs = [w.x for w in park.waypoints.values()]
    ys = [w.y for w in park.waypoints.values()]
    assert 600 <= max(xs) - min(xs) <= 900 and 450 <= max(ys) - min(ys) <= 700


def test_sample_zones_cameras_sensors_chargers(sample_park: Park) -> None:
    park = sample_park
    kinds = {z.id: z.kind for z in park.zones.values()}
    assert kinds["zone_data_labelling"] == "restricted"
    assert kinds["zone_computing_centre"] == "restricted"
    assert kinds["zone_office_a"] == kinds["zone_office_b"] == "after_hours"
    assert kinds["zone_substation"] == "no_go"
    office = park.zones["zone_office_a"]
    assert office.active_at(datetime(2026, 3, 4, 23, 30, tzinfo=SHANGHAI))
    assert office.active_at(datetime(2026, 3, 5, 6, 59, tzinfo=SHANGHAI))
    assert not office.active_at(datetime(2026, 3, 5, 7, 0, tzinfo=SHANGHAI))
    labelling = park.zones["zone_data_labelling"]
    assert not labelling.active_at(datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI))  # Wednesday, working hours
    assert labelling.active_at(datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI))  # Saturday: armed all day
    for cam in park.cameras.values():
        assert cam.id.startswith("cam_")
        assert cam.stream_url == f"http://127.0.0.1:8554/cameras/{cam.id}.mjpg"
        assert cam.image_size == (640, 480)
        gx, gy = cam.image_to_ground(320, 400)  # lower middle of the image: the ground ahead
        bearing = math.degrees(math.atan2(gx - cam.x, gy - cam.y)) % 360
        assert abs((bearing - cam.heading + 180) % 360 - 180) < 1.0
        assert 2.0 < math.dist((gx, gy), (cam.x, cam.y)) < cam.range
    assert {s.kind for s in park.sensors.values()} == {"door", "pir", "fence", "smoke", "water", "tamper"}
    for name in ("door_office_a1_main", "pir_data_labelling_1", "fence_north_3", "smoke_computing_1",
                 "water_computing_1"):
        assert name in park.sensors
    security = park.pois["security_room"]
    for charger in park.chargers.values():
        assert charger.waypoint in park.waypoints
        assert math.dist((charger.x, charger.y), (security.x, security.y)) < 100


def test_projection_round_trip_is_under_a_centimetre() -> None:
    frame = LocalFrame(LatLon(29.58, 105.06))
    worst = 0.0
    for dx in range(-2000, 2001, 250):
        for dy in range(-2000, 2001, 250):
            lat, lon = frame.to_wgs84(dx + 0.123, dy - 0.456)
            x, y = frame.to_local(lat, lon)
            worst = max(worst, math.dist((x, y), (dx + 0.123, dy - 0.456)))
    assert worst < 0.01
    # and the frame is metric: 0.001 degree of latitude is about 110.9 m here
    x, y = frame.to_local(29.581, 105.06)
    assert abs(x) < 1e-6 and 110.0 < y < 111.5


def test_park_projection_queries(sample_park: Park) -> None:
    park = sample_park
    gate = park.waypoints["gate_north"]
    assert park.to_local(gate.lat, gate.lon) == pytest.approx((gate.x, gate.y), abs=0.01)
    assert park.nearest_waypoint(gate.x + 1.0, gate.y - 2.0).id == "gate_north"
    assert park.contains(0.0, 0.0)
    assert park.contains(gate.x, gate.y + 20.0)  # within the margin beyond the fence
    assert not park.contains(0.0, 5000.0)
    assert not park.contains(math.nan, 0.0)
    centre = park.pois["computing_centre"]
    assert [z.id for z in park.zones_at(centre.x, centre.y)] == ["zone_computing_centre"]
    assert park.zones_at(0.0, 0.0) == ()
    office = park.pois["office_a1"]
    assert park.zones_at(office.x, office.y, datetime(2026, 3, 4, 12, 0, tzinfo=SHANGHAI)) == ()
    assert [z.id for z in park.zones_at(office.x, office.y, datetime(2026, 3, 4, 23, 0))] == ["zone_office_a"]


def test_find_poi_by_id_names_and_aliases(sample_park: Park) -> None:
    park = sample_park
    assert park.find_poi("canteen") is park.pois["canteen"]
    assert park.find_poi("员工食堂") is park.pois["canteen"]
    assert park.find_poi("食堂") is park.pois["canteen"]
    assert park.find_poi("  staff canteen ") is park.pois["canteen"]
    assert park.find_poi("SITO") is park.pois["service_centre"]
    assert park.find_poi("数据标注中心") is park.pois["data_labelling_centre"]
    assert park.find_poi("Data-Labelling Centre") is park.pois["data_labelling_centre"]
    assert park.find_poi("nowhere") is None
    assert park.find_poi("") is None


def test_model_is_immutable(sample_park: Park) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample_park.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        sample_park.waypoints["x"] = sample_park.waypoints["kiosk"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample_park.waypoints["kiosk"].x = 1.0  # type: ignore[misc]
    doc = sample_park.geojson()
    doc["features"].clear()
    assert len(sample_park.geojson()["features"]) > 200


def test_weekly_schedule_forms() -> None:
    assert WeeklySchedule.parse("24/7").always
    never = WeeklySchedule.parse("off")
    assert not never.active_at(datetime(2026, 3, 4, 12, 0))
    canteen = WeeklySchedule.parse("Mo-Su 06:30-09:00,11:00-13:30")
    assert canteen.active_at(datetime(2026, 3, 8, 12, 0))
    assert not canteen.active_at(datetime(2026, 3, 8, 10, 0))
    overnight = WeeklySchedule.parse("Su 22:00-07:00")  # Sunday night runs into Monday morning
    assert overnight.active_at(datetime(2026, 3, 9, 6, 0))
    assert not overnight.active_at(datetime(2026, 3, 9, 8, 0))
    hours = WeeklySchedule.parse("Mo-Fr 08:30-17:30; Sa 09:00-12:00")
    assert hours.active_at(datetime(2026, 3, 7, 1, 30, tzinfo=UTC))  # 09:30 Saturday in Shanghai
    assert not hours.active_at(datetime(2026, 3, 7, 5, 0, tzinfo=UTC))  # 13:00 Saturday
    for bad in ("Mo-Xx 08:00-09:00", "Mo 8-9", "Mo-Fr", "25:00-26:00", ""):
        with pytest.raises(ValueError):
            WeeklySchedule.parse(bad)


def test_camera_homography_round_trip(small_park: Park) -> None:
    cam = small_park.cameras["cam_test"]
    for u, v in ((40.0, 470.0), (320.0, 300.0), (600.0, 210.0)):
        x, y = cam.image_to_ground(u, v)
        assert cam.ground_to_image(x, y) == pytest.approx((u, v), abs=1e-6)
    for (u, v), ground in zip(cam.homography.image_points, cam.homography.ground_points, strict=True):
        assert cam.image_to_ground(u, v) == pytest.approx(ground, abs=1e-6)


def test_shipped_files_are_what_the_generators_write(tmp_path: object) -> None:
    from pathlib import Path

    from maps.parks import generate_neijiang, generate_testpark

    out = Path(str(tmp_path))
    generate_neijiang.main(["gen", str(out / "n.geojson")])
    generate_testpark.main(["gen", str(out / "t.geojson")])
    assert (out / "n.geojson").read_bytes() == maps.sample_park_path().read_bytes()
    assert (out / "t.geojson").read_bytes() == maps.test_park_path().read_bytes()
