"""Rendering: the CLI writes a PNG that shows the park."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

import maps
from maps.cli import add_commands


def test_cli_render_writes_a_png(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="parkpatrol")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "sub" / "park.png"
    args = parser.parse_args(["map", "render", str(maps.sample_park_path()), "-o", str(out)])
    assert args.func(args) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 1000 and image.shape[1] > 1300
    assert out.stat().st_size < 1_000_000
    assert len({tuple(int(v) for v in px) for px in image[::7, ::7].reshape(-1, 3)}) > 20  # a drawing, not blank
    bad = tmp_path / "bad.geojson"
    bad.write_text("{}", encoding="utf-8")
    args = parser.parse_args(["map", "render", str(bad), "-o", str(tmp_path / "x.png")])
    assert args.func(args) == 2
    assert not (tmp_path / "x.png").exists()
