"""Re-plan time on the parks we ship: the live dispatcher's path (`PatrolRuntime.remove_robot`) after one of
N dogs drops out, on the planner the service builds for each park (`patrol.planner.park.park_patrol`).

    cd <checkout> && python benchmarks/patrol/replan_parks.py [--teams 3,6,12]

Prints one JSON line per park and team: vertices, checkpoints, the wall time of the first plan and of the
re-plan (the benchmark maps' figures are in `parkpatrol bench patrol`; this is the same code on our maps).
The dogs start spread over the graph's vertices in the order the graph lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from maps import load_park
from patrol.planner.model import RobotPosition, Strategy
from patrol.planner.park import park_patrol
from patrol.planner.runtime import PatrolRuntime

PARKS = Path(__file__).resolve().parents[2] / "maps" / "parks"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teams", default="3,6,12", help="team sizes, comma-separated")
    args = ap.parse_args()
    for path in sorted(PARKS.glob("*.geojson")):
        pp = park_patrol(load_park(path))
        nodes = list(pp.graph.nodes)
        for n in (int(x) for x in args.teams.split(",")):
            if n < 2 or n > len(nodes):
                continue
            runtime = PatrolRuntime(pp.planner, Strategy.AUTO)
            starts = [RobotPosition(f"dog-{i}", nodes[i * len(nodes) // n]) for i in range(n)]
            t0 = time.perf_counter()
            runtime.start(starts, 0.0)
            t1 = time.perf_counter()
            runtime.remove_robot("dog-0", 120.0)
            t2 = time.perf_counter()
            print(json.dumps({"park": path.stem, "vertices": len(nodes), "checkpoints": len(pp.planner.checkpoints),
                              "robots": n, "plan_s": round(t1 - t0, 3), "replan_s": round(t2 - t1, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
