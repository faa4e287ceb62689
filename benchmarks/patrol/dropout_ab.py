"""Drop-out transient A/B: the re-plan without (A) and with (B) one switch of `PatrolRuntime`.

`--switch NAME` picks it (default `detours`: approach walks through waypoints on shared loops; also
`repartition_locally`: local re-cuts of partition loops; `reseat_partitions`: re-seating on partition
loops); the other switches keep their defaults on both sides.

Both sides run in one process, map by map and team by team one after the other, on the same tour
(the first tour OR-Tools finds for a map is reused, so a loaded machine cannot give the two sides
different plans). Prints one JSON object per case: the benchmark's drop-out fields for A and B.

    cd <checkout> && nice -n 10 python benchmarks/patrol/dropout_ab.py \
        ../shared/benchmarks/patrol-graphs [--switch NAME]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import patrol.planner.planner as planner_module
from patrol.planner.bench import TEAM_SIZES, bench_graph
from patrol.planner.runtime import PatrolRuntime
from patrol.planner.tsp import solve_tour

_tours: dict[bytes, list[int]] = {}


def _same_tour(matrix: NDArray[np.float64], limit_s: float) -> list[int]:
    key = matrix.tobytes()
    if key not in _tours:
        _tours[key] = solve_tour(matrix, limit_s)
    return _tours[key]


def main(directory: Path, switch: str = "detours") -> int:
    if not isinstance(getattr(PatrolRuntime, switch, None), bool):
        raise SystemExit(f"PatrolRuntime has no switch {switch!r}")
    setattr(planner_module, "solve_tour", _same_tour)  # noqa: B010 (the planner looks it up there)
    for graph in sorted(directory.glob("*.graph"), key=lambda p: p.stat().st_size):
        for n in TEAM_SIZES[1:]:
            row: dict[str, object] = {"map": graph.stem, "robots": n}
            for side, on in (("A", False), ("B", True)):
                setattr(PatrolRuntime, switch, on)
                t0 = time.process_time()
                r = bench_graph(graph, n)
                row[side] = {
                    "strategy": r.strategy,
                    "tour_m": r.tour_m,
                    "worst_s": r.after_drop_worst_s,
                    "steady_s": r.after_drop_steady_s,
                    "floor_s": r.after_drop_floor_s,
                    "pair_floor_s": r.after_drop_pair_floor_s,
                    "replan_s": r.replan_s,
                    "cpu_s": round(time.process_time() - t0, 2),
                }
            setattr(PatrolRuntime, switch, True)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    name = "detours"
    if "--switch" in args:
        i = args.index("--switch")
        name = args[i + 1]
        del args[i : i + 2]
    raise SystemExit(main(Path(args[0]) if args else Path("../shared/benchmarks/patrol-graphs"), name))
