"""The guide's CLI commands, run through an ArgumentParser as `parkpatrol` wires them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from maps import sample_park_path
from patrol.guide.cli import add_bench_commands, add_commands

QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "guide_questions.yaml"


def _run(argv: list[str], bench: bool = False) -> int:
    parser = argparse.ArgumentParser(prog="parkpatrol")
    sub = parser.add_subparsers(dest="command", required=True)
    if bench:
        add_bench_commands(sub.add_parser("bench").add_subparsers(dest="bench", required=True))
    else:
        add_commands(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_ask(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["guide", "ask", "where is the clinic", "--from", "gate_north"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pois"] == ["clinic"] and out["route"]["origin"] == "gate_north" and "polyline" not in out["route"]
    assert _run(["guide", "ask", "canteen", "--from", "nowhere"]) == 2
    assert "--from: unknown place" in capsys.readouterr().err


def test_check_sample_and_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["guide", "check"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    bad = tmp_path / "kb.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    assert _run(["guide", "check", "--park", str(sample_park_path()), "--knowledge", str(bad)]) == 2
    assert "version" in capsys.readouterr().err


def test_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["bench", "guide", "--questions", str(QUESTIONS)], bench=True) == 0
    assert "top-1 accuracy" in capsys.readouterr().out
