"""The drop-out bound's relaxation (benchmarks/patrol/transient_bound.py): it must admit every real
schedule (else an `infeasible` would prove nothing) and still bite where the answer is known."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import networkx as nx
import pytest

from patrol.planner.paths import ShortestPaths

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "patrol" / "transient_bound.py"


@pytest.fixture(scope="module")
def tb() -> ModuleType:
    spec = importlib.util.spec_from_file_location("transient_bound", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["transient_bound"] = module
    spec.loader.exec_module(module)
    return module


def _ring(lengths: list[float]) -> ShortestPaths:
    g = nx.Graph()
    n = len(lengths)
    for i, length in enumerate(lengths):
        g.add_edge(i, (i + 1) % n, length=length)
    return ShortestPaths(g)


def test_ring_drop_out_is_proven_out_of_reach_at_1_2_x(tb: ModuleType) -> None:
    # 12 vertices 1 m apart, 4 robots evenly spaced driving +1; robot 0 (at vertex 0) drops out.
    # New steady 12 / 3 = 4 s; the survivors driving on give 2 L / N = 6 s (vertex 1: idle 2 s, the
    # robot behind is 4 s away). On a ring nothing better is possible: 1.2 x = 4.8 s is out of reach.
    paths = _ring([1.0] * 12)
    idle = {x: float((-x) % 3) for x in range(12)}
    survivors = tuple(tb.Survivor(f"r{p}", p, 0.0, None) for p in (3, 6, 9))
    state = tb.DropState("ring", 4, "cyclic", paths, 1.0, survivors, idle, 4.0, 6.0, 0.0)
    relaxation = tb.Relaxation(state, 0.5, 12.0)
    assert relaxation.solve(4.8, 30.0, 1).verdict == "infeasible"
    assert relaxation.solve(5.5, 30.0, 1).verdict == "infeasible"  # within one step of 6 s
    assert relaxation.solve(6.0, 30.0, 1).verdict == "feasible"  # the real schedule


@pytest.mark.parametrize("step", [0.3, 0.55, 0.9])
def test_a_real_schedule_is_always_admitted(tb: ModuleType, step: float) -> None:
    # Uneven ring, survivors mid-edge, arbitrary idleness: the survivors' real schedule (drive on
    # forward at 1 m/s) keeps every idleness <= its measured worst, so the relaxation must admit
    # that worst whatever the step (rounding must only make robots faster and windows wider).
    lengths = [1.3, 2.7, 0.95, 1.8, 2.2, 1.05, 3.1, 1.6, 2.45, 1.15]
    paths = _ring(lengths)
    n = len(lengths)
    idle: dict[object, float | None] = {v: 0.37 * ((7 * v) % 5) + 0.9 for v in range(n)}
    survivors = (
        tb.Survivor("a", 2, 0.8, 1),
        tb.Survivor("b", 6, 2.05, 5),
        tb.Survivor("c", 9, 0.0, None),
    )
    state = tb.DropState("uneven", 4, "cyclic", paths, 1.0, survivors, idle, 5.0, 0.0, 0.0)
    horizon = 20.0
    schedules: list[list[tuple[float, object]]] = []
    for s in survivors:
        t, v = s.remaining_m, s.node
        seq: list[tuple[float, object]] = [(t, v)]
        while t < horizon + 5:
            t, v = t + lengths[v], (v + 1) % n
            seq.append((t, v))
        schedules.append(seq)
    worst = tb.replay(state, schedules, horizon)
    relaxation = tb.Relaxation(state, step, horizon)
    assert relaxation.solve(worst, 30.0, 1).verdict == "feasible"
    assert relaxation.solve(worst + 0.01, 30.0, 1, backend="scip", soft=True).verdict == "feasible"


def test_step_choice_keeps_every_edge_at_least_one_step(tb: ModuleType) -> None:
    step = tb.choose_step([5.7, 5.7, 11.4], 1.0)
    assert step == pytest.approx(5.7 / 6)  # exact for the grid's 5.7 m edges
    assert tb.choose_step([0.75, 8.3], 2.0) <= 0.75
