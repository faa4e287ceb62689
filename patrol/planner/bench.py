"""The patrol benchmark: plans on the patrolling_sim maps, run in the simulator's fast kinematic mode.

Each run measures the planner's strategies, the conscientious reactive baseline (same start
vertices) and, for teams of two or more, one robot dropping out half-way: the re-plan time and the
worst idleness in the 10 minutes after it against the new plan's steady state.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from patrol.planner.idleness import IdlenessMonitor
from patrol.planner.model import RobotPosition, Strategy
from patrol.planner.planner import Planner
from patrol.planner.policy import ConscientiousReactive, RuntimePolicy
from patrol.planner.runtime import PatrolRuntime

if TYPE_CHECKING:
    from simulator.fast import FastSim

TEAM_SIZES = (1, 2, 4, 6, 8, 12)
AFTER_DROP_S = 600.0


@dataclass(frozen=True)
class StrategyRun:
    worst_s: float
    average_s: float
    predicted_s: float


@dataclass(frozen=True)
class BenchRow:
    map: str
    vertices: int
    robots: int
    strategy: str
    tour_m: float
    floor_s: float
    """Our tour / N at the benchmark speed: the evenly spaced cyclic optimum for this tour."""
    reference_tour_m: float | None
    worst_s: float
    average_s: float
    cyclic: StrategyRun
    partition: StrategyRun
    baseline_worst_s: float
    baseline_average_s: float
    baseline_ratio: float
    """Baseline worst idleness / ours (higher is better for us)."""
    plan_s: float
    replan_s: float | None
    after_drop_worst_s: float | None
    after_drop_steady_s: float | None
    after_drop_floor_s: float | None
    """No policy can keep the worst interval after the drop-out below this (see `dropout_floor_s`)."""
    waited_s: float
    after_drop_pair_floor_s: float | None = None
    """A stronger bound of the same kind, over pairs of vertices (see `dropout_pair_floor_s`)."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def reference_tours(directory: Path) -> dict[str, float]:
    """Optimal TSP tours from REFERENCE.md beside the graphs (table rows `| map | n | tour |`)."""
    ref = directory / "REFERENCE.md"
    if not ref.is_file():
        return {}
    out: dict[str, float] = {}
    for line in ref.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*([A-Za-z0-9_]+)\s*\|\s*\d+\s*\|\s*([0-9.]+)\s*\|", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


@dataclass(frozen=True)
class _Sim:
    run: StrategyRun
    tour_m: float
    starts: list[RobotPosition]
    waited_s: float
    replan_s: float | None = None
    after_drop_worst_s: float | None = None
    after_drop_steady_s: float | None = None
    after_drop_floor_s: float | None = None
    after_drop_pair_floor_s: float | None = None


def _simulate(planner: Planner, strategy: Strategy, robots: int, duration: float, drop: bool) -> _Sim:
    """Run a plan for `duration`; with `drop`, robot 0 leaves half-way and the run goes on 10 minutes more.

    The runtime re-plans with `strategy` as asked (as the dispatcher does): with `auto` the re-plan after
    the drop-out picks the strategy again for the smaller team."""
    from simulator.fast import DropOut, FastSim  # benchmarks may use the simulator

    plan = planner.plan(robots, strategy)
    starts = [RobotPosition(a.robot_id, a.approach[0]) for a in plan.assignments]
    runtime = PatrolRuntime(planner, strategy)
    runtime.apply(plan, {s.robot_id: s for s in starts}, 0.0)
    policy = _TimedPolicy(runtime)
    monitor = IdlenessMonitor(planner.paths.nodes)
    sim = FastSim(planner.paths, policy, starts, monitor, speed=planner.speed)
    if not drop:
        res = sim.run(duration)
        run = StrategyRun(res.stats.worst_s, res.stats.average_s, plan.predicted_worst_s)
        return _Sim(run, plan.tour_length_m, starts, sum(res.waited_s.values()))
    t_drop = duration / 2
    sim.run(t_drop - 1e-6)
    survivors = [s.robot_id for s in starts[1:]]
    floor = dropout_floor_s(planner, sim, monitor, survivors, t_drop - 1e-6)
    pair_floor = dropout_pair_floor_s(planner, sim, monitor, survivors, t_drop - 1e-6)
    res = sim.run(t_drop + AFTER_DROP_S, [DropOut(t_drop, starts[0].robot_id)])
    after = monitor.stats(since=t_drop, until=t_drop + AFTER_DROP_S)
    steady = runtime.plan.predicted_worst_s if runtime.plan is not None else None
    run = StrategyRun(res.stats.worst_s, res.stats.average_s, plan.predicted_worst_s)
    return _Sim(run, plan.tour_length_m, starts, sum(res.waited_s.values()), policy.drop_s, after.worst_s, steady,
                floor, pair_floor)


def dropout_floor_s(planner: Planner, sim: FastSim, monitor: IdlenessMonitor, survivors: list[str],
                     now: float) -> float:
    """A lower bound on the worst interval after the drop-out, whatever any policy does: a vertex's
    interval is at least its idleness now plus the time the nearest survivor needs to get there
    (driving on to the vertex it is heading for, then by the shortest path, at the patrol speed)."""
    pos = [sim.position(rid) for rid in survivors]
    paths = planner.paths
    floor = 0.0
    for c in monitor.live(now):
        if c.idle_s is None:
            continue
        reach = min(p.remaining_m + paths.dist(p.node, c.node) for p in pos) / planner.speed
        floor = max(floor, c.idle_s + reach)
    return floor


def dropout_pair_floor_s(planner: Planner, sim: FastSim, monitor: IdlenessMonitor, survivors: list[str],
                         now: float) -> float:
    """A lower bound like `dropout_floor_s`, over pairs of vertices: both must be reached, by two
    survivors (each at its own earliest) or by one that drives to one and then on to the other (in
    the better order); the bound is the largest over pairs of the best such pairing's later interval.
    It is at least `dropout_floor_s` (a pair of one vertex twice is that bound)."""
    pos = [sim.position(rid) for rid in survivors]
    live = [c for c in monitor.live(now) if c.idle_s is not None]
    if not pos or not live:
        return 0.0
    paths = planner.paths
    idx = np.asarray([paths.index[c.node] for c in live])
    age = np.asarray([c.idle_s for c in live], dtype=float) * planner.speed  # metres at the patrol speed
    reach = np.stack([p.remaining_m + paths.matrix[paths.index[p.node], idx] for p in pos])  # robots x vertices
    d = paths.matrix[np.ix_(idx, idx)]
    first = age[None, :] + reach  # each robot's earliest interval at each vertex
    # two different robots: the best pairing is each vertex's best robot unless both have the same one
    order = np.argsort(first, axis=0)
    best1, best2 = first[order[0], np.arange(len(live))], first[order[min(1, len(pos) - 1)], np.arange(len(live))]
    same_best = order[0][:, None] == order[0][None, :]
    two = np.maximum(best1[:, None], best1[None, :])
    if len(pos) > 1:
        alt = np.minimum(np.maximum(best1[:, None], best2[None, :]), np.maximum(best2[:, None], best1[None, :]))
        two = np.where(same_best, alt, two)
    else:
        two = np.where(same_best, np.inf, two)
    # one robot for both, u first then v (or v first)
    one = np.full_like(d, np.inf)
    for r in range(len(pos)):
        u_then_v = np.maximum(first[r][:, None], age[None, :] + reach[r][:, None] + d)
        one = np.minimum(one, np.minimum(u_then_v, u_then_v.T))
    return float(np.minimum(two, one).max()) / planner.speed


class _TimedPolicy(RuntimePolicy):
    drop_s: float | None = None

    def drop(self, robot_id: str, now: float) -> None:
        t0 = time.perf_counter()
        super().drop(robot_id, now)
        self.drop_s = time.perf_counter() - t0


def bench_graph(
    path: Path, robots: int, duration: float = 1800.0, strategy: Strategy = Strategy.AUTO, seed: int = 0
) -> BenchRow:
    from maps.patrolgraph import load_patrol_graph
    from simulator.fast import FastSim

    pg = load_patrol_graph(path)
    t0 = time.perf_counter()
    planner = Planner(pg.graph)
    chosen = planner.plan(robots, strategy).strategy
    plan_s = time.perf_counter() - t0
    runs = {st: _simulate(planner, st, robots, duration, False) for st in (Strategy.CYCLIC, Strategy.PARTITION)}
    main = runs[chosen]
    dropped = _simulate(planner, strategy, robots, duration, True) if robots > 1 else None
    baseline = FastSim(planner.paths, ConscientiousReactive(planner.paths, seed), main.starts,
                       IdlenessMonitor(planner.paths.nodes), speed=planner.speed)
    base = baseline.run(duration).stats
    return BenchRow(
        map=pg.name,
        vertices=pg.vertex_count,
        robots=robots,
        strategy=chosen.value,
        tour_m=round(main.tour_m, 2),
        floor_s=round(main.tour_m / robots / planner.speed, 2),
        reference_tour_m=reference_tours(path.parent).get(pg.name),
        worst_s=round(main.run.worst_s, 2),
        average_s=round(main.run.average_s, 2),
        cyclic=runs[Strategy.CYCLIC].run,
        partition=runs[Strategy.PARTITION].run,
        baseline_worst_s=round(base.worst_s, 2),
        baseline_average_s=round(base.average_s, 2),
        baseline_ratio=round(base.worst_s / main.run.worst_s, 2) if main.run.worst_s > 0 else float("inf"),
        plan_s=round(plan_s, 3),
        replan_s=None if dropped is None or dropped.replan_s is None else round(dropped.replan_s, 4),
        after_drop_worst_s=None if dropped is None else dropped.after_drop_worst_s,
        after_drop_steady_s=None if dropped is None else dropped.after_drop_steady_s,
        after_drop_floor_s=None if dropped is None or dropped.after_drop_floor_s is None
        else round(dropped.after_drop_floor_s, 2),
        waited_s=round(main.waited_s, 1),
        after_drop_pair_floor_s=None if dropped is None or dropped.after_drop_pair_floor_s is None
        else round(dropped.after_drop_pair_floor_s, 2),
    )


def markdown_table(rows: list[BenchRow]) -> str:
    head = (
        "| map | V | N | strategy | tour (m) | ref TSP/N (s) | worst (s) | worst / ref TSP/N | cyclic worst "
        "| partition worst | avg (s) | CR baseline worst | baseline / ours | plan (s) | replan (s) "
        "| worst 10 min after drop-out / new steady | ratio | floor / new steady |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        ref = r.reference_tour_m / r.robots if r.reference_tour_m else None
        drop = (
            f"{r.after_drop_worst_s:.1f} / {r.after_drop_steady_s:.1f}"
            if r.after_drop_worst_s is not None and r.after_drop_steady_s
            else "—"
        )
        steady = r.after_drop_steady_s
        ratio = f"{r.after_drop_worst_s / steady:.2f}" if r.after_drop_worst_s is not None and steady else "—"
        bound = max(r.after_drop_floor_s or 0.0, r.after_drop_pair_floor_s or 0.0)  # the pair bound is the stronger
        floor = f"{bound / steady:.2f}" if r.after_drop_floor_s is not None and steady else "—"
        lines.append(
            f"| {r.map} | {r.vertices} | {r.robots} | {r.strategy} | {r.tour_m:.1f} | "
            f"{f'{ref:.1f}' if ref else '—'} | {r.worst_s:.1f} | {f'{r.worst_s / ref:.3f}' if ref else '—'} | "
            f"{r.cyclic.worst_s:.1f} | {r.partition.worst_s:.1f} | {r.average_s:.1f} | "
            f"{r.baseline_worst_s:.1f} | {r.baseline_ratio:.2f} | {r.plan_s:.3f} | "
            f"{f'{r.replan_s:.4f}' if r.replan_s is not None else '—'} | {drop} | {ratio} | {floor} |"
        )
    return head + "\n".join(lines) + "\n"
