"""The transient after a drop-out: its prediction, the floor no policy beats, and shortcuts off the loop."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pytest

from patrol.planner import transient
from patrol.planner.bench import dropout_floor_s
from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.model import RobotPosition, Strategy
from patrol.planner.planner import Planner
from patrol.planner.policy import RuntimePolicy
from patrol.planner.runtime import PatrolRuntime
from patrol.planner.transient import predict_worst_m, shortcut_placement
from simulator.fast import DropOut, FastSim

T_DROP = 605.0  # robots are between vertices


def ring(n: int, spacing: float = 10.0) -> nx.Graph:
    g = nx.Graph()
    radius = n * spacing / (2 * math.pi)
    for i in range(n):
        a = 2 * math.pi * i / n
        g.add_node(i, x=radius * math.cos(a), y=radius * math.sin(a))
    for i in range(n):
        g.add_edge(i, (i + 1) % n, length=spacing)
    return g


def _start(graph: nx.Graph, robots: int) -> tuple[Planner, PatrolRuntime, FastSim, IdlenessMonitor, list[str]]:
    planner = Planner(graph)
    plan = planner.plan(robots, Strategy.CYCLIC)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(planner, plan.strategy)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    monitor = IdlenessMonitor(planner.paths.nodes)
    sim = FastSim(planner.paths, RuntimePolicy(runtime), starts, monitor, speed=planner.speed)
    return planner, runtime, sim, monitor, [s.robot_id for s in starts]


def test_on_a_ring_the_transient_is_two_spacings_as_predicted_and_no_policy_could_meet_1_2x() -> None:
    planner, runtime, sim, monitor, ids = _start(ring(12), 4)  # loop 120 m, 30 m apart
    sim.run(T_DROP)
    # the runtime's estimate of each vertex's idleness (metres at 1 m/s) is the measured one
    ages = runtime.idle_estimate_m(T_DROP)
    for c in monitor.live(T_DROP):
        assert c.idle_s == pytest.approx(ages[c.node], abs=1e-6)
    floor = dropout_floor_s(planner, sim, monitor, ids[1:], T_DROP)
    survivors = [p for rid, p in runtime.positions(T_DROP).items() if rid != ids[0]]
    loop = runtime.plan.loops[0] if runtime.plan is not None else None
    assert loop is not None
    placed, before, after = shortcut_placement(loop, 0, survivors, planner.paths, ages)
    assert after == before  # a ring has no shortcut
    assert predict_worst_m(loop, placed, planner.paths, ages) == pytest.approx(before)

    sim.run(T_DROP + 600.0, [DropOut(T_DROP, ids[0])])
    measured = monitor.stats(since=T_DROP, until=T_DROP + 600.0).worst_s
    steady = runtime.plan.predicted_worst_s if runtime.plan is not None else math.inf
    assert steady == pytest.approx(40.0)  # 120 m / 3
    assert measured == pytest.approx(before) == pytest.approx(60.0)  # 2 x 120 m / 4
    # the vertex just ahead of the lost robot was last seen 30 s ago and every survivor is >= 30 m away
    assert floor <= measured + 1e-6
    assert floor / steady > 1.2


def test_a_robot_takes_a_shortcut_to_serve_the_oldest_vertices_first() -> None:
    g = ring(12)
    g.add_edge(0, 6, length=10.0)  # a short way across
    planner = Planner(g)
    loop = planner.cyclic_loop()
    start = loop.walk.index(0)
    after_0 = loop.walk[(start + 1) % len(loop.walk)]
    # two robots just behind each other at vertex 0; the far half of the ring has not been seen for long
    robots = [RobotPosition("a", 0), RobotPosition("b", loop.walk[start - 1])]
    opposite = {v: 100.0 if planner.paths.dist(0, v) >= 40.0 else 0.0 for v in g.nodes}
    placed, before, after = shortcut_placement(loop, 0, robots, planner.paths, opposite)
    assert after < before
    jumper = next(a for a in placed if len(a.approach) > 1)
    assert jumper.approach[0] == 0 and 6 in jumper.approach and after_0 not in jumper.approach


def test_dropout_replan_uses_shortcuts_on_1r5_and_measures_what_it_predicts(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maps.patrolgraph import load_patrol_graph

    monkeypatch.setattr(transient, "SEARCH_S", 60.0)  # a loaded test machine must not cut the search short

    _, runtime, sim, monitor, ids = _start(
        load_patrol_graph(shared_dir / "benchmarks/patrol-graphs/1r5.graph").graph, 6
    )
    t_drop = 900.0  # as `parkpatrol bench patrol` does
    sim.run(t_drop + 600.0, [DropOut(t_drop, ids[0])])
    assert runtime.plan is not None
    steady = runtime.plan.predicted_worst_s
    measured = monitor.stats(since=t_drop, until=t_drop + 600.0).worst_s
    two_spacings = 2 * runtime.plan.tour_length_m / 6
    assert any(len(a.approach) > 1 for a in runtime.plan.assignments)  # someone took a shortcut
    assert measured < two_spacings - 1.0
    assert measured / steady < 1.6


def _dropout_1r5(shared_dir: Path, detours: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """Robot 0 of six drops out on 1r5 at t = 900 s: (measured worst in the next 600 s, predicted worst)."""
    from maps.patrolgraph import load_patrol_graph

    monkeypatch.setattr(PatrolRuntime, "detours", detours)
    planner, runtime, sim, monitor, ids = _start(
        load_patrol_graph(shared_dir / "benchmarks/patrol-graphs/1r5.graph").graph, 6
    )
    t_drop = 900.0
    sim.run(t_drop)
    ages = runtime.idle_estimate_m(t_drop)
    sim.run(t_drop + 600.0, [DropOut(t_drop, ids[0])])
    assert runtime.plan is not None
    predicted = predict_worst_m(runtime.plan.loops[0], runtime.plan.assignments, planner.paths, ages)
    return monitor.stats(since=t_drop, until=t_drop + 600.0).worst_s, predicted


def test_detours_through_the_hole_beat_shortcuts_on_1r5_and_measure_what_they_predict(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a loaded test machine must not cut the searches short (they stop at their evaluation budgets)
    monkeypatch.setattr(transient, "SEARCH_S", 60.0)
    monkeypatch.setattr(transient, "DETOUR_S", 60.0)
    shortcuts, _ = _dropout_1r5(shared_dir, False, monkeypatch)
    detoured, predicted = _dropout_1r5(shared_dir, True, monkeypatch)
    assert detoured == pytest.approx(predicted, abs=1e-6)
    assert detoured < shortcuts - 1.0


def test_a_robot_between_vertices_holds_only_once_it_reaches_its_next_vertex() -> None:
    g = ring(12)
    planner = Planner(g)
    loop = planner.cyclic_loop()
    ahead = loop.walk[2]
    # "a" is 4 m before walk[2], "b" stands 50 m further on: 54 and 66 m apart round the 120 m ring, so
    # "a" holds 6 m for even spacing (60 m) -- at walk[2], after it got there (at 4 m), not before
    robots = [RobotPosition("a", ahead, 4.0, loop.walk[1]), RobotPosition("b", loop.walk[7])]
    ages = {v: 0.0 for v in g.nodes}
    ages[ahead] = 50.0
    placed, _, _ = shortcut_placement(loop, 0, robots, planner.paths, ages)
    a = next(p for p in placed if p.robot_id == "a")
    assert a.approach == (ahead,) and a.approach_m == pytest.approx(4.0)
    # walk[2]: 50 + 4 m, then "b" comes round after 70 m: 66 m (not 60 m: the hold does not delay the visit)
    assert predict_worst_m(loop, placed, planner.paths, ages) == pytest.approx(66.0)
