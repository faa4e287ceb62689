"""Planning on the shipped sample park (maps.load_park): checkpoints, priorities, chargers."""

from __future__ import annotations

from maps import load_park, sample_park_path
from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.model import RobotPosition
from patrol.planner.park import park_patrol, visits_per_cycle
from patrol.planner.policy import RuntimePolicy
from patrol.planner.runtime import PatrolRuntime
from simulator.fast import FastSim


def test_sample_park_patrol_covers_checkpoints_and_favours_high_priority() -> None:
    park = load_park(sample_park_path())
    pp = park_patrol(park)
    assert pp.chargers and all(c in pp.graph for c in pp.chargers)
    cps = {c.node: c for c in pp.planner.checkpoints}
    assert set(cps) == {c.waypoint for c in park.checkpoints.values()}
    plan = pp.planner.plan(3)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(pp.planner, plan.strategy)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    sim = FastSim(pp.planner.paths, RuntimePolicy(runtime), starts, IdlenessMonitor(pp.planner.checkpoints))
    res = sim.run(6 * 3600.0)
    assert res.stats.unvisited == 0
    high = [n for n, c in cps.items() if c.priority > 1]
    assert high
    for loop in plan.loops:
        for n in set(loop.stops) & set(high):
            assert loop.stops.count(n) >= cps[n].priority  # several visits per cycle
    worst_at: dict[object, float] = {}
    for _, iv, n in res.monitor.intervals():
        worst_at[n] = max(worst_at.get(n, 0.0), iv)
    weighted = max(worst_at[n] * cps[n].priority for n in cps)
    assert weighted <= plan.predicted_worst_s + 1e-6
    assert res.stats.worst_s <= plan.predicted_worst_s + 1e-6


def test_map_priority_maps_to_visits_per_cycle() -> None:
    assert [visits_per_cycle(p) for p in (0, 1, 3, 4, 7, 8, 10, 99, -1)] == [1, 1, 1, 2, 2, 3, 3, 3, 1]
