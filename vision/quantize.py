"""INT8 post-training quantization of the OpenVINO export with NNCF, and the check that admits it.

    ir = quantize_int8(f32_ir_dir, out_dir)       # once; the caller caches `out_dir`
    verdict = check_int8(f32_ir_dir, ir, labels)  # accuracy and CPU time against f32, same images

Calibration uses only what is installed: the photos ultralytics ships (bus.jpg, zidane.jpg), whole
and as region crops at several scales and positions, mirrored, letterboxed exactly as the detector
feeds the model (whole frames at 640 px, regions at 320 px). The YOLO head's box arithmetic (DFL,
anchors, sigmoid) stays in float, as ultralytics' own INT8 export does: quantizing it moves boxes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.models import ModelError, dir_lock
from vision.yolo_io import Blob, Region, decode, letterbox

log = logging.getLogger(__name__)

CALIBRATION_VERSION = "assets-v2"
"""Bump when the calibration images or their preparation change: the cache key includes it."""

MIN_AGREEMENT = 0.9
"""Share of the f32 model's detections the INT8 model must reproduce (IoU >= 0.5, same class)."""
MAX_CPU_RATIO = 0.8
"""INT8 is chosen automatically only if it takes at most this share of f32's CPU time per inference."""


@dataclass(frozen=True)
class Int8Settings:
    preset: str = "mixed"
    fast_bias_correction: bool = True
    float_head: bool = True
    calibration: str = CALIBRATION_VERSION

    def key(self) -> str:
        return (f"{self.preset}-{'fbc' if self.fast_bias_correction else 'bc'}-"
                f"{'fhead' if self.float_head else 'qhead'}-{self.calibration}")


@dataclass(frozen=True)
class Int8Verdict:
    """How the INT8 model compares with f32 on the check images (stored next to the INT8 IR)."""

    detections_f32: int
    reproduced: int
    agreement: float
    f32_cpu_ms: float
    int8_cpu_ms: float
    accepted: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _asset_photos() -> list[np.ndarray[Any, Any]]:
    from vision.models import offline_ultralytics

    offline_ultralytics()
    from ultralytics.utils import ASSETS

    photos = []
    for path in sorted(Path(ASSETS).glob("*.jpg")):
        img = cv2.imread(str(path))
        if img is not None:
            photos.append(img)
    if not photos:
        raise ModelError(f"no calibration photos in {ASSETS}; reinstall ultralytics")
    return photos


def calibration_blobs(region_size: int = 320, full_size: int = 640) -> list[Blob]:
    """Model inputs for calibration and the accuracy check (see the module doc)."""
    blobs: list[Blob] = []
    for photo in _asset_photos():
        for img in (photo, np.ascontiguousarray(photo[:, ::-1])):
            h, w = img.shape[:2]
            blobs.append(letterbox(img, None, full_size)[0])
            blobs.append(letterbox(img, None, region_size)[0])
            for frac in (0.3, 0.5, 0.7):
                side = int(min(h, w) * frac)
                for fx, fy in ((0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 1.0)):
                    region = Region(round((w - side) * fx), round((h - side) * fy), side, side)
                    blobs.append(letterbox(img, region, region_size)[0])
    return blobs


def _head_scope(model: Any) -> Any:
    """NNCF ignored scope keeping the detection head's box decoding in float."""
    import nncf

    heads = {m.group(1) for op in model.get_ops() if (m := re.search(r"(model\.\d+)\.dfl", op.get_friendly_name()))}
    if len(heads) != 1:
        log.warning("INT8: no single YOLO head found (%s); quantizing the whole graph", sorted(heads))
        return None
    head = re.escape(heads.pop())
    return nncf.IgnoredScope(
        patterns=[f".*{head}/.*/Add", f".*{head}/.*/Sub.*", f".*{head}/.*/Mul.*", f".*{head}/.*/Div.*",
                  f".*{head}\\.dfl.*"],
        types=["Sigmoid"], validate=False)


def quantize_int8(ir_dir: Path, out_dir: Path, settings: Int8Settings | None = None) -> Path:
    """Write the INT8 version of the f32 IR in `ir_dir` to `out_dir/model.xml` (slow: minutes)."""
    settings = settings or Int8Settings()
    # NNCF sends usage telemetry unless it believes it runs in CI; this project never reaches the network
    os.environ.setdefault("NNCF_CI", "1")
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise ModelError(f"INT8 quantization needs nncf ({exc}); `pip install nncf`") from exc
    xml = next(iter(sorted(ir_dir.glob("*.xml"))), None)
    if xml is None:
        raise ModelError(f"{ir_dir}: no OpenVINO .xml model to quantize")
    model = ov.Core().read_model(xml)
    blobs = calibration_blobs()
    preset = nncf.QuantizationPreset.MIXED if settings.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    t0 = time.perf_counter()
    quantized = nncf.quantize(
        model, nncf.Dataset(blobs), preset=preset, subset_size=len(blobs),
        fast_bias_correction=settings.fast_bias_correction,
        ignored_scope=_head_scope(model) if settings.float_head else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.xml"
    ov.save_model(quantized, target, compress_to_fp16=False)
    log.info("INT8 quantization of %s on %d calibration inputs took %.0f s", xml, len(blobs),
             time.perf_counter() - t0)
    return target


def _compile(xml: Path) -> Any:
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    return ov.Core().compile_model(xml, "CPU", config)


def check_int8(ir_dir: Path, int8_xml: Path, labels: list[str], conf: float = 0.35,
               rounds: int = 5) -> Int8Verdict:
    """Run f32 and INT8 on the check images: the share of f32 detections INT8 reproduces, and CPU ms
    per 320 px region inference with one thread each, interleaved (median of `rounds`)."""
    f32_xml = next(iter(sorted(ir_dir.glob("*.xml"))))
    f32, int8 = _compile(f32_xml), _compile(int8_xml)
    total = same = 0
    for photo in _asset_photos():
        h, w = photo.shape[:2]
        side = min(h, w) // 2
        for region in (None, Region(0, 0, side, side), Region(w - side, h - side, side, side),
                       Region((w - side) // 2, (h - side) // 2, side, side)):
            blob, lb = letterbox(photo, region, 640 if region is None else 320)
            ref = decode(np.asarray(f32(blob)[0])[0], lb, labels, conf, 0.5)
            got = decode(np.asarray(int8(blob)[0])[0], lb, labels, conf * 0.8, 0.5)
            total += len(ref)
            same += sum(any(g.class_id == r.class_id and g.box.iou(r.box) >= 0.5 for g in got) for r in ref)
    agreement = same / total if total else 0.0
    region_blob = letterbox(_asset_photos()[0], Region(0, 0, 320, 320), 320)[0]
    times: dict[str, list[float]] = {"f32": [], "int8": []}
    for model in (f32, int8):
        model(region_blob)
    for _ in range(rounds):
        for name, model in (("f32", f32), ("int8", int8)):
            c0 = time.process_time()
            for _ in range(3):
                model(region_blob)
            times[name].append((time.process_time() - c0) / 3)
    f32_ms, int8_ms = (1e3 * statistics.median(times[k]) for k in ("f32", "int8"))
    if total == 0:
        ok, why = False, "the f32 model found nothing on the check images"
    elif agreement < MIN_AGREEMENT:
        ok, why = False, f"INT8 reproduced {same}/{total} f32 detections (< {MIN_AGREEMENT:.0%})"
    elif int8_ms > MAX_CPU_RATIO * f32_ms:
        ok, why = False, f"INT8 {int8_ms:.0f} ms vs f32 {f32_ms:.0f} ms CPU per inference: not faster enough"
    else:
        ok, why = True, f"INT8 reproduced {same}/{total} f32 detections at {int8_ms / f32_ms:.2f}x the CPU"
    return Int8Verdict(total, same, round(agreement, 3), round(f32_ms, 1), round(int8_ms, 1), ok, why)


def cached_int8(root: Path, ir_dir: Path, labels: list[str],
                settings: Int8Settings | None = None) -> tuple[Path, Int8Verdict]:
    """The INT8 IR of the f32 IR `ir_dir` and its verdict, made once under `root` (the model's export
    cache folder, keyed by the weights' hash) in a folder named by the quantization settings."""
    settings = settings or Int8Settings()
    target = root / f"openvino-int8-{settings.key()}"
    xml, verdict_file = target / "model.xml", target / "verdict.json"

    def load() -> tuple[Path, Int8Verdict] | None:
        if not (xml.exists() and verdict_file.exists()):
            return None
        try:
            return xml, Int8Verdict(**json.loads(verdict_file.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            log.warning("%s unreadable (%s); quantizing again", verdict_file, exc)
            return None

    found = load()
    if found is not None:
        return found
    with dir_lock(root):
        found = load()
        if found is not None:
            return found
        log.info("quantizing %s to INT8 (once; cached in %s)", ir_dir, target)
        with tempfile.TemporaryDirectory(dir=root, prefix=".int8-") as tmp:
            made = quantize_int8(ir_dir, Path(tmp), settings)
            verdict = check_int8(ir_dir, made, labels)
            (Path(tmp) / "verdict.json").write_text(json.dumps(verdict.as_dict()), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
            Path(tmp).mkdir()  # TemporaryDirectory cleans up a folder of its own name
    log.info("INT8 check: %s", verdict.reason)
    return xml, verdict
