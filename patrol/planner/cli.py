"""`parkpatrol bench patrol`: the patrol benchmark on patrolling_sim graphs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from patrol.planner.bench import TEAM_SIZES, BenchRow, bench_graph, markdown_table
from patrol.planner.model import Strategy

log = logging.getLogger(__name__)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The planner has no top-level commands of its own; see `add_bench_commands`."""


def add_bench_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("patrol", help="patrol planner on patrolling_sim graphs (fast kinematic simulation)")
    p.add_argument("--graph", type=Path, required=True, help="a .graph file, or with --all a directory of them")
    p.add_argument("--robots", type=int, default=None, help="team size (default with --all: 1,2,4,6,8,12)")
    p.add_argument("--duration", type=float, default=1800.0, help="simulated seconds (default 1800)")
    p.add_argument("--strategy", choices=[s.value for s in Strategy], default=Strategy.AUTO.value)
    p.add_argument("--all", action="store_true", help="every .graph in the directory x every team size")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    strategy = Strategy(args.strategy)
    if args.duration <= 0:
        print(f"--duration must be positive, got {args.duration}", file=sys.stderr)
        return 2
    if args.all:
        if not args.graph.is_dir():
            print(f"--all needs --graph to be a directory of .graph files; {args.graph} is not", file=sys.stderr)
            return 2
        graphs = sorted(args.graph.glob("*.graph"), key=lambda p: p.stat().st_size)
        teams = [args.robots] if args.robots else list(TEAM_SIZES)
    else:
        if not args.graph.is_file():
            print(f"no graph file at {args.graph}; give a patrolling_sim .graph file", file=sys.stderr)
            return 2
        graphs = [args.graph]
        teams = [args.robots or 1]
    if any(n < 1 for n in teams):
        print("--robots must be at least 1", file=sys.stderr)
        return 2
    rows: list[BenchRow] = []
    for g in graphs:
        for n in teams:
            try:
                rows.append(bench_graph(g, n, args.duration, strategy))
            except ValueError as exc:
                print(f"{g}: {exc}", file=sys.stderr)
                return 1
            if not args.json:
                log.info("%s N=%d done", g.name, n)
    if args.json:
        out: object = [r.to_json() for r in rows] if args.all else rows[0].to_json()
        print(json.dumps(out, indent=2))
    else:
        print(markdown_table(rows), end="")
    return 0
