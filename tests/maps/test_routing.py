"""Routing: fastest routes equal a brute-force reference, closures, capabilities, no-go zones."""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections.abc import Iterable

import networkx as nx
import pytest

import maps
from maps import NoRouteError, Park, Router, resolve_place
from maps.cli import add_commands


def brute_force_seconds(park: Park, start: str, goal: str, usable: Iterable[str], speed: float = 1.5) -> float:
    """Cheapest simple path by enumerating every one (only for the twelve-waypoint park)."""
    g: nx.DiGraph = nx.DiGraph()
    for pid in usable:
        path = park.paths[pid]
        t = path.length / min(path.max_speed, speed) * (2.0 if path.stairs else 1.0)
        for u, v in [(path.a, path.b), (path.b, path.a)] if path.bidirectional else [(path.a, path.b)]:
            if not g.has_edge(u, v) or g.edges[u, v]["t"] > t:
                g.add_edge(u, v, t=t)
    best = math.inf
    for nodes in nx.all_simple_paths(g, start, goal):
        best = min(best, sum(g.edges[u, v]["t"] for u, v in itertools.pairwise(nodes)))
    return best


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="parkpatrol")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_route_between_pois_named_in_chinese_is_the_shortest(small_park: Park) -> None:
    router = Router(small_park)
    usable = [p for p in small_park.paths if "tz_pond" not in router.path_zones(p)]
    pairs = [("大门", "图书馆"), ("咖啡馆", "实验室"), ("图书馆", "大门"), ("实验室", "咖啡厅")]
    for a, b in pairs:
        route = router.route(resolve_place(small_park, a), resolve_place(small_park, b))
        assert route.seconds == pytest.approx(brute_force_seconds(small_park, route.waypoints[0],
                                                                  route.waypoints[-1], usable))
        assert route.metres == pytest.approx(sum(small_park.paths[p].length for p in route.paths))
        assert route.polyline[0] == pytest.approx((small_park.waypoints[route.waypoints[0]].x,
                                                   small_park.waypoints[route.waypoints[0]].y))
        assert len(route.latlon) == len(route.polyline)


def test_brute_force_agrees_for_every_pair(small_park: Park) -> None:
    router = Router(small_park)
    usable = [p for p in small_park.paths if "tz_pond" not in router.path_zones(p)]
    matrix = router.distance_matrix()
    for a in small_park.waypoints:
        for b in small_park.waypoints:
            expected = 0.0 if a == b else brute_force_seconds(small_park, a, b, usable)
            assert matrix.seconds_between(a, b) == pytest.approx(expected)


def test_route_avoids_a_zone_closed_at_runtime(small_park: Park) -> None:
    router = Router(small_park)
    assert router.path_zones("p_w7__w11") == {"tz_lawn"}
    assert router.route("w7", "w11").paths == ("p_w7__w11",)
    detour = router.route("w7", "w11", closed_zones=["tz_lawn"])
    assert "p_w7__w11" not in detour.paths
    assert all("tz_lawn" not in router.path_zones(p) for p in detour.paths)
    assert detour.metres > 20.0
    assert "w6" in router.route("w2", "w10", closed_paths=["p_w10__w11"]).waypoints
    with pytest.raises(NoRouteError):
        router.route("w1", "w2", closed_zones=["tz_nowhere"])


def test_no_stairs_capability(small_park: Park) -> None:
    router = Router(small_park)
    climbing = router.route("w1", "w12")
    assert any(small_park.paths[p].stairs for p in climbing.paths)
    walking = router.route("w1", "w12", no_stairs=True)
    assert not any(small_park.paths[p].stairs for p in walking.paths)
    assert walking.seconds > climbing.seconds


def test_no_go_zone_is_never_crossed_and_one_way_is_honoured(small_park: Park) -> None:
    router = Router(small_park)
    assert router.path_zones("p_pond_bridge") == {"tz_pond"}
    for a in small_park.waypoints:
        for b in small_park.waypoints:
            if a != b:
                assert "p_pond_bridge" not in router.route(a, b).paths
    assert router.route("w3", "w4").paths == ("p_w3__w4",)
    assert router.route("w4", "w3").paths != ("p_w3__w4",)


def test_unreachable_and_unknown(small_park: Park) -> None:
    router = Router(small_park)
    with pytest.raises(NoRouteError, match="no route"):
        router.route("w1", "w12", closed_paths=["p_w1__w2", "p_w1__w5"])
    with pytest.raises(NoRouteError, match="unknown waypoint"):
        router.route("w1", "w99")
    matrix = router.distance_matrix(["w1", "w12"], closed_paths=["p_w1__w2", "p_w1__w5"])
    assert math.isinf(matrix.metres_between("w1", "w12"))
    assert router.route("w5", "w5").metres == 0.0


def test_resolve_place_forms(small_park: Park) -> None:
    assert resolve_place(small_park, "Library") == "w12"
    assert resolve_place(small_park, "tp_cafe") == "w4"
    assert resolve_place(small_park, "w7") == "w7"
    lat, lon = small_park.to_wgs84(41.0, 21.0)
    assert resolve_place(small_park, f"{lat},{lon}") == "w7"
    with pytest.raises(NoRouteError, match="did you mean"):
        resolve_place(small_park, "Librar")
    with pytest.raises(NoRouteError, match="outside"):
        resolve_place(small_park, "0.0,0.0")


def test_sample_park_routes(sample_park: Park) -> None:
    router = Router(sample_park)
    route = router.route(resolve_place(sample_park, "北门"), resolve_place(sample_park, "数据标注中心"))
    assert route.waypoints[0] == "gate_north" and route.waypoints[-1] == "e_data_labelling_centre"
    assert 300 < route.metres < 600
    assert all("zone_substation" not in router.path_zones(p) for p in sample_park.paths)
    steps = router.route("e_office_a3", "e_office_a1")
    assert sample_park.paths[steps.paths[0]].stairs  # office A3's podium: the steps are quicker
    ramp = router.route("e_office_a3", "e_office_a1", no_stairs=True)
    assert ramp.paths[0] == "p_office_a3_ramp"
    assert not any(sample_park.paths[p].stairs for p in ramp.paths)
    matrix = router.distance_matrix([c.waypoint for c in sample_park.checkpoints.values()])
    assert all(math.isfinite(v) for row in matrix.seconds for v in row)


def test_cli_route_json_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(maps.test_park_path())
    assert run_cli(["map", "route", path, "大门", "图书馆", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["waypoints"][0] == "w1" and out["waypoints"][-1] == "w12"
    assert out["metres"] > 0 and out["seconds"] > 0
    assert len(out["polyline"]) == len(out["latlon"]) >= 2
    assert run_cli(["map", "route", path, "w7", "w11", "--json", "--close-zone", "tz_lawn"]) == 0
    detour = json.loads(capsys.readouterr().out)
    assert "p_w7__w11" not in detour["paths"]
    assert run_cli(["map", "route", path, "w7", "w11", "--close-zone", "tz_lawn", "tz_office",
                    "--close-path", "p_w7__w8", "--close-zone", "tz_pond"]) == 0
    assert "w7 -> w6 -> w10 -> w11" in capsys.readouterr().out
    assert run_cli(["map", "route", path, "w1", "w12", "--no-stairs"]) == 0
    assert "w1 -> w5" in capsys.readouterr().out
    assert run_cli(["map", "route", path, "大门", "月球"]) == 1
    assert "unknown place" in capsys.readouterr().err
