"""Partition drop-outs: re-cutting only the loops near the lost robot's, or the tour at other offsets."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from patrol.planner.bench import dropout_floor_s, dropout_pair_floor_s
from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.model import PatrolPlan, RobotPosition, Strategy
from patrol.planner.partition import cuts_near_optimal
from patrol.planner.planner import Planner
from patrol.planner.policy import RuntimePolicy
from patrol.planner.repartition import (
    STEADY_TOLERANCE,
    Candidate,
    local_candidates,
    plan_transient_m,
    recut_candidates,
)
from patrol.planner.runtime import PatrolRuntime
from simulator.fast import DropOut, FastSim
from tests.planner.graphs import grid, star


def _planners() -> list[Planner]:
    return [Planner(star(4, 4)), Planner(star(5, 3)), Planner(grid(5, 4)), Planner(grid(6, 3))]


def test_every_near_optimal_cut_covers_the_tour_once_and_slack_only_adds_cuts() -> None:
    for planner in _planners():
        tour = planner.tour()
        for parts in (2, 3, 5):
            tight = cuts_near_optimal(tour, parts, planner.paths)
            loose = cuts_near_optimal(tour, parts, planner.paths, 0.05)
            assert tight and len(loose) >= len(tight)
            for groups in tight + loose:
                assert len(groups) <= parts
                assert sorted(map(str, (v for g in groups for v in g))) == sorted(map(str, tour))


def _check(cand: Candidate, robots: list[RobotPosition], planner: Planner, ages: dict[object, float],
           limit: float) -> None:
    plan = cand.plan
    assert plan.predicted_worst_s <= limit + 1e-9
    assert sorted(a.robot_id for a in plan.assignments) == sorted(r.robot_id for r in robots)
    assert {a.loop_id for a in plan.assignments} == set(range(len(plan.loops)))
    covered = {v for loop in plan.loops for v in loop.stops}
    assert covered == {c.node for c in planner.checkpoints}
    by_id = {r.robot_id: r for r in robots}
    for a in plan.assignments:
        loop = plan.loops[a.loop_id]
        assert a.approach[0] == by_id[a.robot_id].node and a.approach[-1] == loop.walk[a.entry]
    assert cand.transient_m == pytest.approx(plan_transient_m(plan, by_id, planner.paths, ages))


@pytest.mark.parametrize("seed", range(4))
def test_candidates_seat_every_survivor_once_cover_every_checkpoint_and_keep_the_steady_state(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for planner in _planners():
        for k in (3, 4, 5):
            plan = planner.plan(k, Strategy.PARTITION)
            if len(plan.loops) < 2:
                continue
            nodes = planner.paths.nodes
            robots = [
                RobotPosition(a.robot_id, nodes[int(rng.integers(len(nodes)))], float(rng.uniform(0, 3)) * (i % 2))
                for i, a in enumerate(plan.assignments)
            ]
            lost, survivors = robots[0].robot_id, robots[1:]
            ages = {v: float(rng.uniform(0, 60)) for v in nodes}
            fresh = planner.plan(survivors, Strategy.PARTITION, plan.loops)
            limit = fresh.predicted_worst_s * (1 + STEADY_TOLERANCE)
            tour = planner.tour()
            found = local_candidates(plan, lost, survivors, tour, planner.priority, planner.paths, ages, limit, 1e18)
            found += recut_candidates(plan, survivors, tour, planner.priority, planner.paths, ages, limit, 1e18)
            for cand in found:
                _check(cand, survivors, planner, ages, limit)


def _run_dropout(planner: Planner, robots: int, local: bool, t_drop: float = 900.0) -> tuple[float, PatrolPlan, float]:
    """(measured worst in the 600 s after the drop-out, the re-plan, the pair floor)."""
    PatrolRuntime.repartition_locally = local
    try:
        plan = planner.plan(robots, Strategy.PARTITION)
        starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
        runtime = PatrolRuntime(planner, plan.strategy)
        runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
        monitor = IdlenessMonitor(planner.paths.nodes)
        sim = FastSim(planner.paths, RuntimePolicy(runtime), starts, monitor, speed=planner.speed)
        sim.run(t_drop - 1e-6)
        survivors = [s.robot_id for s in starts[1:]]
        floor = dropout_floor_s(planner, sim, monitor, survivors, t_drop - 1e-6)
        pair = dropout_pair_floor_s(planner, sim, monitor, survivors, t_drop - 1e-6)
        assert pair >= floor - 1e-9
        sim.run(t_drop + 600.0, [DropOut(t_drop, starts[0].robot_id)])
        assert runtime.plan is not None
        measured = monitor.stats(since=t_drop, until=t_drop + 600.0).worst_s
        assert measured >= pair - 1e-6  # a lower bound for any policy
        return measured, runtime.plan, pair
    finally:
        PatrolRuntime.repartition_locally = True


@pytest.mark.parametrize("graph", [star(4, 4), star(5, 3), grid(6, 3)])
def test_runtime_takes_a_candidate_only_within_the_steady_tolerance_and_never_does_worse_here(graph: nx.Graph) -> None:
    planner = Planner(graph)
    for robots in (3, 4, 5):
        if len(planner.plan(robots, Strategy.PARTITION).loops) != robots:
            continue
        fresh_worst, fresh, _ = _run_dropout(planner, robots, local=False)
        worst, plan, _ = _run_dropout(planner, robots, local=True)
        assert plan.predicted_worst_s <= fresh.predicted_worst_s * (1 + STEADY_TOLERANCE) + 1e-9
        assert worst <= max(fresh_worst, fresh.predicted_worst_s) + 1e-6


def test_dropout_on_diag_floor1_partition_recut_beats_the_fresh_cut(shared_dir: Path) -> None:
    from maps.patrolgraph import load_patrol_graph

    planner = Planner(load_patrol_graph(shared_dir / "benchmarks/patrol-graphs/DIAG_floor1.graph").graph)
    before, fresh, _ = _run_dropout(planner, 8, local=False)
    after, plan, pair = _run_dropout(planner, 8, local=True)
    # 82.3 s -> 78.75 s on the benchmark's tour; other tours differ, so only: never worse, same steady
    assert after <= before + 1e-6
    assert plan.predicted_worst_s <= fresh.predicted_worst_s * (1 + STEADY_TOLERANCE) + 1e-9
    assert after >= pair - 1e-6
