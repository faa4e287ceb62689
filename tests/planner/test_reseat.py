"""Partition re-plans after a drop-out: survivors seated on the new loops for the shortest transient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.model import RobotPosition, Strategy
from patrol.planner.planner import Planner
from patrol.planner.policy import RuntimePolicy
from patrol.planner.reseat import first_intervals_m, reseat_single_loops
from patrol.planner.runtime import PatrolRuntime
from patrol.planner.transient import predict_worst_m
from simulator.fast import DropOut, FastSim
from tests.planner.graphs import grid, star


def _planners() -> list[Planner]:
    return [Planner(star(4, 4)), Planner(star(5, 3)), Planner(grid(5, 4))]


@pytest.mark.parametrize("seed", range(6))
def test_reseating_never_predicts_worse_than_the_planners_seats_and_matches_the_loop_predictor(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for planner in _planners():
        nodes = planner.paths.nodes
        for k in (2, 3, 4):
            robots = [
                RobotPosition(f"r{i}", nodes[int(j)], float(rng.uniform(0, 4)) if i % 2 else 0.0)
                for i, j in enumerate(rng.choice(len(nodes), size=k, replace=False))
            ]
            ages = {v: float(rng.uniform(0, 80)) for v in nodes}
            plan = planner.plan(robots, Strategy.PARTITION)
            if len(plan.loops) != k:
                continue
            by_id = {r.robot_id: r for r in robots}
            old = max(
                float(first_intervals_m(plan.loops[a.loop_id], by_id[a.robot_id], planner.paths, ages)[a.entry])
                for a in plan.assignments
            )
            got = reseat_single_loops(plan.loops, robots, planner.paths, ages)
            assert got is not None
            loops, assigns, worst = got
            assert worst <= old + 1e-9
            assert sorted(a.robot_id for a in assigns) == sorted(by_id)
            assert sorted(a.loop_id for a in assigns) == list(range(k))
            for a in assigns:
                r = by_id[a.robot_id]
                assert a.approach[0] == r.node and a.approach[-1] == loops[a.loop_id].walk[a.entry]
                assert a.approach_m == pytest.approx(planner.paths.dist(r.node, a.approach[-1]) + r.remaining_m)
            # the transient module's predictor (which also counts later laps and approach visits)
            # never predicts a worse first lap than the seating assumed
            per_loop = [
                predict_worst_m(loops[j], [a for a in assigns if a.loop_id == j], planner.paths, ages)
                for j in range(k)
            ]
            steady = max(loop.length for loop in loops)
            assert max(per_loop) <= max(worst, steady) + 1e-6


def test_a_loop_the_robots_already_drive_keeps_its_direction() -> None:
    planner = Planner(star(4, 4))
    plan = planner.plan(4, Strategy.PARTITION)
    robots = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    # everything on the far side of each loop was seen long ago: turning round would pay off
    ages = {v: 200.0 for v in planner.paths.nodes}
    got = reseat_single_loops(plan.loops, robots, planner.paths, ages, plan.loops)
    assert got is not None
    assert [lp.walk for lp in got[0]] == [lp.walk for lp in plan.loops]


def test_dropout_on_diag_labs_partition_reseats_and_measures_what_it_predicts(shared_dir: Path) -> None:
    from maps.patrolgraph import load_patrol_graph

    planner = Planner(load_patrol_graph(shared_dir / "benchmarks/patrol-graphs/DIAG_labs.graph").graph)
    plan = planner.plan(8, Strategy.PARTITION)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(planner, plan.strategy)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    monitor = IdlenessMonitor(planner.paths.nodes)
    sim = FastSim(planner.paths, RuntimePolicy(runtime), starts, monitor, speed=planner.speed)
    t_drop = 900.0
    sim.run(t_drop - 1e-6)
    before = {rid: RobotPosition(rid, p.node, p.remaining_m, p.after) for rid in runtime.robots
              for p in [sim.position(rid)]}
    ages = runtime.idle_estimate_m(t_drop - 1e-6)
    old = planner.plan([p for rid, p in before.items() if rid != starts[0].robot_id], Strategy.PARTITION)
    by_id = {p.robot_id: p for p in before.values()}
    old_worst = max(
        float(first_intervals_m(old.loops[a.loop_id], by_id[a.robot_id], planner.paths, ages)[a.entry])
        for a in old.assignments
    )
    sim.run(t_drop + 600.0, [DropOut(t_drop, starts[0].robot_id)])
    assert runtime.plan is not None
    for a in runtime.plan.assignments:  # nobody was sent back to a start point: approaches start where they stood
        assert a.approach[0] == before[a.robot_id].node
    measured = monitor.stats(since=t_drop, until=t_drop + 600.0).worst_s
    steady = runtime.plan.predicted_worst_s
    assert measured < old_worst - 5.0  # the planner's own seats: about 31.8 s
    assert measured <= 1.2 * steady


def test_unusable_idleness_or_a_robot_short_leaves_the_planners_seats() -> None:
    planner = Planner(star(3, 3))
    plan = planner.plan(3, Strategy.PARTITION)
    robots = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    for bad in (float("inf"), float("nan")):
        assert reseat_single_loops(plan.loops, robots, planner.paths, dict.fromkeys(planner.paths.nodes, bad)) is None
    assert reseat_single_loops(plan.loops, robots[:2], planner.paths, {}) is None
