"""`parkpatrol bench console` runs end to end at a small size (figures are printed, never asserted)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from patrol.console.bench import run_bench
from patrol.console.cli import add_bench_commands
from tests.conftest import need

pytestmark = pytest.mark.browser


def test_bench_console_small_run_uses_the_canvas_fleet_view() -> None:
    need(Path("/usr/bin/chromium").exists(), "Chromium is not installed (apt-get install chromium)")
    result = run_bench(robots=80, sensors=300, sensor_changes=100, updates=3)
    assert result["robot_markers"] == 80  # drawn as canvas arrows above 60 robots
    assert result["sensor_markers"] >= 300
    assert result["updates"] == 3 and result["handler_ms_max"] >= result["handler_ms_p50"] >= 0


def test_bench_command_is_registered() -> None:
    ap = argparse.ArgumentParser()
    add_bench_commands(ap.add_subparsers())
    args = ap.parse_args(["console", "--json", "--robots", "10"])
    assert args.robots == 10 and args.json and callable(args.func)
