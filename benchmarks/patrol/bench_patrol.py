"""Run `parkpatrol bench patrol` without the installed entry point.

    cd <checkout> && nice python benchmarks/patrol/bench_patrol.py \
        --graph ../shared/benchmarks/patrol-graphs --all > benchmarks/patrol/table.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from patrol.planner.cli import add_bench_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_patrol")
    add_bench_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(["patrol", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
