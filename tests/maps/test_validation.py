"""Bad maps: every problem is reported at once, with feature index, id, property and reason."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import maps
from maps import MapError, Problem
from maps.cli import add_commands
from tests.maps.conftest import feature_index

Writer = Callable[[dict[str, Any]], Path]


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(MapError) as info:
        maps.load_park(path)
    return info.value.problems


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="parkpatrol")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def three_mistakes(doc: dict[str, Any]) -> tuple[int, int, int]:
    """A typo'd waypoint in a path, an unclosed zone ring, and a duplicate sensor id."""
    path_i = feature_index(doc, "path", "p_w10__w11")
    doc["features"][path_i]["properties"]["to"] = "w99"
    zone_i = feature_index(doc, "zone", "tz_lawn")
    doc["features"][zone_i]["geometry"]["coordinates"][0].pop()
    sensor_i = feature_index(doc, "sensor", "fence_tp_1")
    doc["features"][sensor_i]["properties"]["id"] = "door_tp_lab"
    return path_i, zone_i, sensor_i


def test_three_independent_mistakes_are_all_reported(small_doc: dict[str, Any], write_doc: Writer) -> None:
    path_i, zone_i, sensor_i = three_mistakes(small_doc)
    problems = problems_of(write_doc(small_doc))
    located = {(p.index, p.feature_id, p.property) for p in problems}
    assert located == {
        (path_i, "p_w10__w11", "to"),
        (zone_i, "tz_lawn", "geometry"),
        (sensor_i, "door_tp_lab", "id"),
    }
    reasons = " | ".join(p.reason for p in problems)
    assert "dangling path end" in reasons and "w99" in reasons
    assert "does not close" in reasons
    assert "duplicate sensor id" in reasons


def test_cli_check_prints_all_three_and_exits_2(
    small_doc: dict[str, Any], write_doc: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    path_i, zone_i, sensor_i = three_mistakes(small_doc)
    assert run_cli(["map", "check", str(write_doc(small_doc))]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    for index in (path_i, zone_i, sensor_i):
        assert f"feature #{index} " in err


def test_cli_check_passes_on_the_sample_park(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["map", "check", str(maps.sample_park_path())]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "waypoints" in out


def _edit(doc: dict[str, Any], kind: str, fid: str, key: str, value: Any) -> int:
    i = feature_index(doc, kind, fid)
    doc["features"][i]["properties"][key] = value
    return i


def _isolated_waypoint(doc: dict[str, Any]) -> int:
    lonlat = doc["features"][feature_index(doc, "waypoint", "w12")]["geometry"]["coordinates"]
    doc["features"].append({
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [lonlat[0] + 0.0001, lonlat[1]]},
        "properties": {"type": "waypoint", "id": "w_island"},
    })
    return len(doc["features"]) - 1


def _move_path_end(doc: dict[str, Any]) -> int:
    i = feature_index(doc, "path", "p_w1__w2")
    doc["features"][i]["geometry"]["coordinates"][-1][1] += 0.0001  # about 11 m north
    return i


def _camera_backwards(doc: dict[str, Any]) -> int:
    return _edit(doc, "camera", "cam_test", "heading", 225.0)


def _camera_collinear(doc: dict[str, Any]) -> int:
    i = feature_index(doc, "camera", "cam_test")
    doc["features"][i]["properties"]["image_points"] = [[0, 0], [100, 100], [200, 200], [0, 300]]
    return i


def _camera_into_the_void(doc: dict[str, Any]) -> int:
    i = feature_index(doc, "camera", "cam_test")
    lon, lat = doc["features"][i]["geometry"]["coordinates"]
    doc["features"][i]["geometry"]["coordinates"] = [lon - 0.0008, lat - 0.0008]  # ~80 m south-west
    props = doc["features"][i]["properties"]
    props["heading"] = 225.0
    props["ground_points"] = [[gx - 0.0016, gy - 0.0016] for gx, gy in props["ground_points"]]
    return i


def _swapped_coordinates(doc: dict[str, Any]) -> int:
    i = feature_index(doc, "sensor", "fence_tp_1")
    lon, lat = doc["features"][i]["geometry"]["coordinates"]
    doc["features"][i]["geometry"]["coordinates"] = [lat, lon]
    return i


CASES: dict[str, tuple[Callable[[dict[str, Any]], int], str | None, str]] = {
    "dangling end": (lambda d: _edit(d, "path", "p_w1__w2", "from", "nope"), "from", "unknown waypoint 'nope'"),
    "end far from waypoint": (_move_path_end, "to", "dangling path end: the line ends"),
    "disconnected": (_isolated_waypoint, None, "disconnected graph component"),
    "entrance unknown": (lambda d: _edit(d, "poi", "tp_lab", "entrance", "w0"), "entrance", "not a waypoint"),
    "entrance off graph": (lambda d: (_isolated_waypoint(d), _edit(d, "poi", "tp_lab", "entrance", "w_island"))[1],
                           "entrance", "not on the main path network"),
    "property typo": (lambda d: _edit(d, "path", "p_w1__w2", "widht", 3.0), "widht", "Extra inputs"),
    "wrong type": (lambda d: _edit(d, "path", "p_w1__w2", "stairs", "no"), "stairs", "valid boolean"),
    "negative width": (lambda d: _edit(d, "path", "p_w1__w2", "width", -1), "width", "greater than 0"),
    "unknown kind": (lambda d: _edit(d, "sensor", "fence_tp_1", "kind", "laser"), "kind", "Input should be"),
    "unknown type": (lambda d: _edit(d, "sensor", "fence_tp_1", "type", "lamp"), "type", "unknown feature type"),
    "bad schedule": (lambda d: _edit(d, "zone", "tz_lawn", "schedule", "Mo-Fr 8-9"), "schedule", "HH:MM"),
    "unknown zone": (lambda d: _edit(d, "sensor", "pir_tp_lawn", "zone", "tz_moon"), "zone", "unknown zone"),
    "camera backwards": (_camera_backwards, "heading", "camera pointing nowhere"),
    "camera void": (_camera_into_the_void, "heading", "covers no path, zone or POI"),
    "camera collinear": (_camera_collinear, "image_points", "collinear"),
    "swapped lat lon": (_swapped_coordinates, "geometry", "swapped"),
    "checkpoint unknown": (lambda d: _edit(d, "checkpoint", "cp_w4", "waypoint", "w40"), "waypoint", "unknown"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_is_located(case: str, small_doc: dict[str, Any], write_doc: Writer) -> None:
    mutate, prop, reason = CASES[case]
    index = mutate(small_doc)
    problems = problems_of(write_doc(small_doc))
    assert any(p.index == index and p.property == prop and reason in p.reason for p in problems), problems
    assert reason in str(MapError("x", problems))


def test_file_level_problems(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.geojson"
    bad_json.write_text('{"type": "FeatureCollection",\n "features": [}', encoding="utf-8")
    (problem,) = problems_of(bad_json)
    assert "line 2" in problem.reason
    not_fc = tmp_path / "nofc.geojson"
    not_fc.write_text(json.dumps({"type": "Feature"}), encoding="utf-8")
    assert "FeatureCollection" in problems_of(not_fc)[0].reason
    assert "not found" in problems_of(tmp_path / "missing.geojson")[0].reason


def test_missing_park_metadata_and_style_keys(small_doc: dict[str, Any], write_doc: Writer) -> None:
    small_doc["features"][0]["properties"]["marker-color"] = "#ff0000"  # GIS styling is tolerated
    small_doc["features"][0]["properties"]["x-note"] = "surveyed 2026"
    maps.load_park(write_doc(small_doc))
    del small_doc["park"]
    problems = problems_of(write_doc(small_doc))
    assert [p.property for p in problems] == ["park"]
