"""Planner core on small graphs, run in the fast kinematic simulator on its simulated clock."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.loops import max_gaps
from patrol.planner.model import Checkpoint, RobotPosition, Strategy
from patrol.planner.paths import GraphError, ShortestPaths
from patrol.planner.planner import Planner
from patrol.planner.policy import ConscientiousReactive, RuntimePolicy
from patrol.planner.runtime import PatrolRuntime
from patrol.planner.tsp import held_karp, ortools_tour, tour_length
from simulator.fast import DropOut, FastSim
from tests.planner.graphs import grid, star


def _run(
    planner: Planner,
    plan_robots: int | list[RobotPosition],
    strategy: Strategy,
    duration: float,
    dropouts: list[DropOut] | None = None,
) -> tuple[PatrolRuntime, FastSim]:
    plan = planner.plan(plan_robots, strategy)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(planner, plan.strategy)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    sim = FastSim(planner.paths, RuntimePolicy(runtime), starts, IdlenessMonitor(planner.paths.nodes))
    sim.run(duration, dropouts or [])
    return runtime, sim


def test_held_karp_is_optimal_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    for n in (4, 6, 8):
        pts = rng.random((n, 2)) * 100
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
        best = min(tour_length([0, *p], d) for p in itertools.permutations(range(1, n)))
        order = held_karp(d)
        assert sorted(order) == list(range(n))
        assert tour_length(order, d) == pytest.approx(best)


def test_ortools_tour_finds_the_grid_optimum() -> None:
    paths = ShortestPaths(grid(4, 4, 1.0))
    order = ortools_tour(paths.matrix, 0.3)
    assert sorted(order) == list(range(16))
    assert tour_length(order, paths.matrix) == pytest.approx(16.0)  # a Hamiltonian cycle of unit edges


def test_disconnected_graph_is_refused_with_the_vertex_named() -> None:
    g = grid(2, 2)
    g.add_node(99, x=0.0, y=0.0)
    with pytest.raises(GraphError, match="99"):
        ShortestPaths(g)


def test_three_robot_cyclic_patrol_visits_everything_evenly_spaced() -> None:
    planner = Planner(grid(5, 4))  # 20 vertices, 10 m apart: optimal tour 200 m
    assert planner.tour_length() == pytest.approx(200.0)
    runtime, sim = _run(planner, 3, Strategy.CYCLIC, 1800.0)
    stats = sim.monitor.stats()
    assert stats.unvisited == 0
    spacing = 200.0 / 3
    assert stats.worst_s == pytest.approx(spacing, abs=1e-6)
    # steady state: every interval at every vertex is exactly one spacing
    late = [iv for t, iv, _ in sim.monitor.intervals() if t > 400]
    assert min(late) == pytest.approx(spacing, abs=1e-6) and max(late) == pytest.approx(spacing, abs=1e-6)
    progress = sorted(runtime.progress(r, sim.now) for r in runtime.robots)
    assert progress[-1] - progress[0] < 1e-6


def test_dropout_replan_keeps_positions_and_others_respace() -> None:
    planner = Planner(grid(5, 4))
    plan = planner.plan(4, Strategy.CYCLIC)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(planner, Strategy.CYCLIC)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    sim = FastSim(planner.paths, RuntimePolicy(runtime), starts, IdlenessMonitor(planner.paths.nodes))
    sim.run(333.3)  # robots now mid-edge
    before = {r: sim.position(r) for r in runtime.robots}
    dropped = starts[1].robot_id
    new_plan = runtime.remove_robot(dropped, sim.now)
    assert new_plan is not None and len(new_plan.assignments) == 3
    for a in new_plan.assignments:
        pos = before[a.robot_id]
        assert a.approach[0] == pos.node  # continues from where it is, no return to a start
        assert a.approach_m == pytest.approx(pos.remaining_m, abs=1e-6)
    # continue the simulation with the new plan (the sim drops the robot and keeps going)
    sim2 = FastSim(planner.paths, RuntimePolicy(runtime), [], IdlenessMonitor(planner.paths.nodes))
    del sim2
    _, sim3 = _run(planner, 4, Strategy.CYCLIC, 2400.0, [DropOut(300.0, starts[1].robot_id)])
    late = [iv for t, iv, _ in sim3.monitor.intervals() if t > 1200]
    assert max(late) == pytest.approx(200.0 / 3, abs=1e-6)
    assert min(late) == pytest.approx(200.0 / 3, abs=1e-6)


def test_partition_wins_on_a_corridor_and_auto_picks_it() -> None:
    planner = Planner(star(arms=2, arm_len=5))  # a corridor of 11 vertices: the tour runs it twice
    cyc = planner.plan(3, Strategy.CYCLIC)
    part = planner.plan(3, Strategy.PARTITION)
    assert cyc.predicted_worst_s == pytest.approx(200.0 / 3)
    assert part.predicted_worst_s == pytest.approx(60.0)  # three short back-and-forth beats
    assert planner.plan(3, Strategy.AUTO).strategy is Strategy.PARTITION
    _, sim = _run(planner, 3, Strategy.PARTITION, 1800.0)
    assert sim.monitor.stats().unvisited == 0
    assert sim.monitor.stats().worst_s <= part.predicted_worst_s + 1e-6


def test_high_priority_checkpoint_is_visited_several_times_per_cycle() -> None:
    g = grid(5, 4)
    cps = [Checkpoint(v, priority=3 if v == 0 else 1) for v in g.nodes]
    planner = Planner(g, cps)
    loop = planner.cyclic_loop()
    assert sum(1 for v in loop.walk if v == 0) >= 3
    gaps = max_gaps(loop)
    assert gaps[0] <= loop.length / 2  # spread out, not three visits in a row
    plain = Planner(g).plan(1, Strategy.CYCLIC)
    weighted = planner.plan(1, Strategy.CYCLIC)
    assert weighted.predicted_worst_s < 3 * plain.predicted_worst_s


def test_unknown_checkpoint_is_refused() -> None:
    with pytest.raises(GraphError, match="not in the patrol graph"):
        Planner(grid(2, 2), [Checkpoint(42)])


def test_conscientious_reactive_baseline_covers_the_graph() -> None:
    paths = ShortestPaths(grid(4, 4))
    starts = [RobotPosition("a", 0), RobotPosition("b", 15)]
    sim = FastSim(paths, ConscientiousReactive(paths, seed=1), starts, IdlenessMonitor(paths.nodes))
    res = sim.run(1200.0)
    assert res.stats.unvisited == 0
    assert res.stats.worst_s >= 160.0 / 2 - 1e-9  # never better than the evenly spaced optimum


def test_idleness_monitor_first_visit_only_starts_the_clock() -> None:
    seen = []
    mon = IdlenessMonitor([Checkpoint("a", target_interval_s=10.0), "b"], on_visit=seen.append)
    mon.visit("a", "r1", 5.0)
    mon.visit("x", "r1", 6.0)  # not a checkpoint
    mon.visit("a", "r2", 20.0)
    mon.visit("b", "r1", 21.0)
    st = mon.stats()
    assert (st.worst_s, st.samples, st.unvisited) == (15.0, 1, 1)
    live = {c.node: c for c in mon.live(30.0)}
    assert live["a"].idle_s == 10.0 and not live["a"].overdue and live["a"].last_robot == "r2"
    assert [v.interval_s for v in seen] == [None, 15.0, None]


def test_replan_for_new_robot_keeps_everyone_where_they_are() -> None:
    planner = Planner(grid(5, 4))
    runtime = PatrolRuntime(planner, Strategy.CYCLIC)
    runtime.start([RobotPosition("a", 0), RobotPosition("b", 7, 4.0)], 0.0)
    plan = runtime.add_robot(RobotPosition("c", 19), 0.0)
    starts = {a.robot_id: a.approach[0] for a in plan.assignments}
    assert starts == {"a": 0, "b": 7, "c": 19}
    assert math.isclose(plan.predicted_worst_s, 200.0 / 3)


def test_single_vertex_graph_plans_without_crashing() -> None:
    g = nx.Graph()
    g.add_node(1, x=0.0, y=0.0)
    plan = Planner(g).plan(2)
    assert len(plan.assignments) == 2


def test_replan_keeps_each_robots_direction_on_a_loop_that_passes_a_vertex_twice() -> None:
    planner = Planner(star(arms=2, arm_len=5))  # a corridor: the loop passes inner vertices both ways
    loop = planner.cyclic_loop()
    inner = next(v for v in loop.walk if sum(1 for w in loop.walk if w == v) == 2)
    runtime = PatrolRuntime(planner, Strategy.CYCLIC)
    for j, v in enumerate(loop.walk):
        if v != inner:
            continue
        came_from = loop.walk[j - 1]
        plan = runtime.start([RobotPosition("a", inner, 0.0, came_from)], 0.0)
        a = plan.assignment("a")
        walk = plan.loops[0].walk
        assert walk[a.entry] == inner and walk[a.entry - 1] == came_from  # no U-turn
