"""INT8 (NNCF) OpenVINO backend: chosen only when its cached check holds, finds the same people as f32,
and a rejected or explicit choice behaves as documented; several OpenVINO streams give the same output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.vision.conftest import photo
from vision.backends import _streams
from vision.detector import Detector, Region
from vision.models import ExportCache, ModelError, ModelSpec
from vision.quantize import Int8Settings, Int8Verdict
from vision.types import Frame

pytestmark = pytest.mark.model


def _verdict_file(data_dir: Path) -> Path:
    root = ExportCache(data_dir, ModelSpec.default().path).root
    return root / f"openvino-int8-{Int8Settings().key()}" / "verdict.json"


def test_auto_uses_int8_exactly_when_its_check_passed(detector: Detector, model_cache: Path) -> None:
    pytest.importorskip("nncf")
    verdict = Int8Verdict(**json.loads(_verdict_file(model_cache).read_text(encoding="utf-8")))
    assert verdict.detections_f32 > 0
    assert (detector.backend == "openvino-int8") == verdict.accepted, verdict.reason
    if verdict.accepted:
        assert verdict.agreement >= 0.9 and verdict.int8_cpu_ms < verdict.f32_cpu_ms


def test_int8_finds_the_people_f32_finds(model_cache: Path) -> None:
    pytest.importorskip("nncf")
    int8 = Detector.open(model_cache, backend="openvino-int8")
    f32 = Detector.open(model_cache, backend="openvino")
    assert int8.backend == "openvino-int8" and f32.backend == "openvino"
    bus = photo("bus.jpg")
    items: list[tuple[Frame, Region | None]] = [(bus, None), (photo("zidane.jpg"), None),
                                                 (bus, Region(0, 200, 400, 600))]
    ref = f32.detect_regions(items)
    got = int8.detect_regions(items)
    assert sum(len(r) for r in ref) >= 5
    for want, have in zip(ref, got, strict=True):
        for d in want:
            assert any(g.label == d.label and g.box.iou(d.box) > 0.7 for g in have), (d, have)


def test_rejected_int8_falls_back_to_f32(detector: Detector, model_cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("nncf")
    source = ExportCache(model_cache, ModelSpec.default().path).root
    copy = ExportCache(tmp_path, ModelSpec.default().path).root
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".lock", "*.onnx"))
    verdict = _verdict_file(tmp_path)
    data = json.loads(verdict.read_text(encoding="utf-8"))
    verdict.write_text(json.dumps({**data, "accepted": False, "reason": "lost people in the check"}),
                       encoding="utf-8")
    auto = Detector.open(tmp_path)
    assert auto.backend == "openvino"
    assert any(f.startswith("openvino-int8: not chosen: lost people") for f in auto.info.fallbacks)
    assert Detector.open(tmp_path, backend="openvino-int8").backend == "openvino-int8"  # asked for: given


def test_two_streams_give_the_same_detections(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = Detector.open(model_cache, backend="openvino")
    monkeypatch.setenv("PARKPATROL_VISION_STREAMS", "2")
    two = Detector.open(model_cache, backend="openvino")
    assert (one.streams, two.streams) == (1, 2)
    bus = photo("bus.jpg")
    items: list[tuple[Frame, Region | None]] = [(bus, None), (bus, Region(0, 200, 400, 600)),
                                                 (bus, Region(400, 300, 400, 600))]
    ref = one.detect_regions(items)
    got = two.detect_regions(items)
    assert two.timings.inferences == 3
    assert [[(d.label, round(d.score, 3)) for d in r] for r in got] == \
        [[(d.label, round(d.score, 3)) for d in r] for r in ref]


def test_streams_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARKPATROL_VISION_STREAMS", raising=False)
    assert _streams() == 1
    monkeypatch.setenv("PARKPATROL_VISION_STREAMS", "2")
    assert _streams() == 2
    monkeypatch.setenv("PARKPATROL_VISION_STREAMS", "many")
    with pytest.raises(ModelError, match="PARKPATROL_VISION_STREAMS='many'"):
        _streams()
