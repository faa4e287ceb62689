"""`parkpatrol bench patrol` on a benchmark graph (short simulated duration)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from patrol.planner.cli import add_bench_commands


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parkpatrol bench")
    add_bench_commands(parser.add_subparsers())
    return parser.parse_args(argv)


def test_bench_patrol_json_on_grid(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = shared_dir / "benchmarks/patrol-graphs/grid.graph"
    args = _parse(["patrol", "--graph", str(graph), "--robots", "4", "--duration", "600", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["map"] == "grid" and out["robots"] == 4 and out["vertices"] == 25
    assert out["reference_tour_m"] == pytest.approx(148.2)
    assert out["tour_m"] <= 1.05 * out["reference_tour_m"]
    assert out["worst_s"] <= 1.05 * out["reference_tour_m"] / 4
    assert out["worst_s"] <= out["partition"]["worst_s"] + 1e-6
    assert out["baseline_ratio"] >= 1.0
    assert out["replan_s"] is not None and out["after_drop_worst_s"] is not None


def test_bench_patrol_table_for_a_directory(
    tmp_path: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = shared_dir / "benchmarks/patrol-graphs"
    (tmp_path / "1r5.graph").write_bytes((src / "1r5.graph").read_bytes())
    args = _parse(["patrol", "--graph", str(tmp_path), "--all", "--robots", "2", "--duration", "300"])
    assert args.func(args) == 0
    table = capsys.readouterr().out
    assert table.startswith("| map |") and "| 1r5 | 12 | 2 |" in table


def test_bench_patrol_reports_a_missing_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["patrol", "--graph", str(tmp_path / "nope.graph"), "--robots", "2"])
    assert args.func(args) == 2
    assert "no graph file" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_broughton_twelve_robots_meets_the_idleness_target(shared_dir: Path) -> None:
    from patrol.planner.bench import bench_graph

    row = bench_graph(shared_dir / "benchmarks/patrol-graphs/broughton.graph", 12)
    assert row.reference_tour_m is not None
    assert row.worst_s <= 1.05 * row.reference_tour_m / 12
    assert row.worst_s <= row.partition.worst_s + 1e-6
