"""Inference backends: each runs a (N, 3, H, W) float32 batch and returns the raw YOLO head output.

The raw output has shape (N, 4 + classes, anchors): centre x, centre y, width, height in input
pixels, then one score per class. Pre- and post-processing are shared (see `vision.detector`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vision.models import ExportCache, ModelError, load_yolo

log = logging.getLogger(__name__)

Batch = npt.NDArray[np.float32]

BACKEND_ORDER = ("openvino-int8", "openvino", "onnxruntime", "pytorch")
"""'auto' tries these in order; openvino-int8 only where its cached check found it faster and as accurate."""


class Backend(Protocol):
    name: str
    detail: str
    class_names: list[str]
    streams: int
    """Inferences this backend runs at once in `run_many` (1: one after another)."""

    def run(self, batch: Batch) -> Batch:
        """Raw head output for a batch."""
        ...

    def run_many(self, blobs: list[Batch]) -> list[Batch]:
        """Raw head output for each of several inputs, up to `streams` of them in flight at once."""
        ...


def _streams() -> int:
    """OpenVINO inference streams: $PARKPATROL_VISION_STREAMS, else 1 (one request, all threads).

    With 2 streams two inputs (regions, or frames of two cameras) are in flight at once, each on its
    own share of the threads; see BENCHMARKS.md (Vision, 2026-11-29 INT8) for when that pays.
    """
    raw = os.environ.get("PARKPATROL_VISION_STREAMS", "").strip()
    try:
        wanted = int(raw) if raw else 1
    except ValueError:
        raise ModelError(f"PARKPATROL_VISION_STREAMS={raw!r} is not a number of streams; set 1 or more") from None
    return max(1, wanted)


def _threads() -> int:
    """Threads per inference: $PARKPATROL_VISION_THREADS, else all cores.

    Measured on the shared 2-core box (OpenVINO f32, 320 px region): with the box busy with other
    work, 1 thread took less CPU per inference than 2 (98-132 vs 142-153 ms); with spare capacity, 2
    threads halved the wall time per inference (72 vs 133 ms) and the live 16-camera run got 1.6 cores
    instead of 0.94 (one thread caps the sequential detection loop at one core). So all cores by
    default; set 1 where the vision process shares a small machine with busy neighbours.
    """
    raw = os.environ.get("PARKPATROL_VISION_THREADS", "").strip()
    try:
        wanted = int(raw) if raw else 0
    except ValueError:
        raise ModelError(f"PARKPATROL_VISION_THREADS={raw!r} is not a number of threads; "
                         "set a whole number, or 0 for all cores") from None
    return wanted if wanted > 0 else max(1, os.cpu_count() or 1)


def _names_of(yolo: Any) -> list[str]:
    names = yolo.names
    return [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]


class PyTorchBackend:
    """The ultralytics model's own torch module, fused, in inference mode."""

    name = "pytorch"
    streams = 1

    def __init__(self, weights: Path) -> None:
        self.detail = f"CPU fp32, {_threads()} threads"
        import torch

        yolo = load_yolo(weights)
        self.class_names = _names_of(yolo)
        self._torch = torch
        torch.set_num_threads(_threads())
        module = yolo.model
        module.fuse(verbose=False) if hasattr(module, "fuse") else None
        self._module = module.float().eval()

    def run(self, batch: Batch) -> Batch:
        with self._torch.inference_mode():
            out = self._module(self._torch.from_numpy(batch))
        if isinstance(out, (tuple, list)):
            out = out[0]
        result: Batch = out.float().cpu().numpy()
        return result

    def run_many(self, blobs: list[Batch]) -> list[Batch]:
        return [self.run(b) for b in blobs]


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU, running a dynamic-shape ONNX export."""

    name = "onnxruntime"
    streams = 1

    def __init__(self, onnx_path: Path, class_names: list[str]) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads()
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.detail = f"CPU fp32, {opts.intra_op_num_threads} threads"
        self._input = self._session.get_inputs()[0].name
        self.class_names = class_names

    def run(self, batch: Batch) -> Batch:
        out = self._session.run(None, {self._input: batch})[0]
        result: Batch = np.asarray(out, dtype=np.float32)
        return result

    def run_many(self, blobs: list[Batch]) -> list[Batch]:
        return [self.run(b) for b in blobs]


class OpenVinoBackend:
    """OpenVINO on the CPU, latency hint, running a dynamic-shape IR export (or its INT8 version:
    `int8=True`, see `vision.quantize`; the layers left in float run at `precision`).

    Precision "auto" runs bfloat16 where the CPU has native BF16 (AVX512_BF16/AMX: about half the
    CPU time, scores within ~0.01 of fp32 on the test photos), else fp32. Override with
    $PARKPATROL_VISION_PRECISION=f32|bf16.
    """

    name = "openvino"

    def __init__(self, ir_dir: Path, class_names: list[str], precision: str = "auto", *,
                 int8: bool = False) -> None:
        import openvino as ov

        xml = next(iter(sorted(ir_dir.glob("*.xml"))), None)
        if xml is None:
            raise ModelError(f"{ir_dir}: no OpenVINO .xml model inside; delete the folder to re-export")
        core = ov.Core()
        precision = os.environ.get("PARKPATROL_VISION_PRECISION", precision)
        if precision == "auto":
            caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            precision = "bf16" if "BF16" in caps else "f32"
        if precision not in ("f32", "bf16", "f16"):
            raise ModelError(f"OpenVINO precision {precision!r} unknown; use auto, f32 or bf16")
        threads = _threads()
        self.streams = _streams()
        if int8:
            self.name = "openvino-int8"
        self.detail = f"CPU {'int8 + ' if int8 else ''}{precision}, {threads} threads"
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision,
                                  "INFERENCE_NUM_THREADS": max(threads, self.streams)}
        if self.streams > 1:  # several requests in flight, each stream on its share of the threads
            config.update(PERFORMANCE_HINT="THROUGHPUT", NUM_STREAMS=self.streams)
            self.detail += f", {self.streams} streams"
        self._compiled = core.compile_model(core.read_model(xml), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(self._compiled, self.streams) if self.streams > 1 else None
        self.class_names = class_names

    def run(self, batch: Batch) -> Batch:
        self._request.infer({0: batch})
        result: Batch = np.asarray(self._request.get_output_tensor(0).data, dtype=np.float32).copy()
        return result

    def run_many(self, blobs: list[Batch]) -> list[Batch]:
        queue = self._queue
        if queue is None or len(blobs) < 2:
            return [self.run(b) for b in blobs]
        results: list[Batch | None] = [None] * len(blobs)

        def done(request: Any, index: int) -> None:
            results[index] = np.asarray(request.get_output_tensor(0).data, dtype=np.float32).copy()

        queue.set_callback(done)
        for i, blob in enumerate(blobs):
            queue.start_async({0: blob}, i)
        queue.wait_all()
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise ModelError(f"OpenVINO returned no output for inputs {missing} of {len(blobs)}")
        return [r for r in results if r is not None]


def class_names_of(weights: Path) -> list[str]:
    return _names_of(load_yolo(weights))


def open_backend(
    choice: str, weights: Path, data_dir: Path, attempts: list[str] | None = None
) -> Backend:
    """Open backend `choice` ("auto" tries OpenVINO INT8, OpenVINO, ONNX Runtime, then PyTorch).

    Each failed attempt is logged and appended to `attempts` as "name: reason".
    """
    if choice not in ("auto", *BACKEND_ORDER):
        raise ModelError(f"unknown detector backend {choice!r}; choose auto, {', '.join(BACKEND_ORDER)}")
    order = BACKEND_ORDER if choice == "auto" else (choice,)
    notes = attempts if attempts is not None else []
    names: list[str] | None = None
    cache: ExportCache | None = None
    for name in order:
        try:
            if name == "pytorch":
                return PyTorchBackend(weights)
            if weights.suffix not in (".pt", ".pth"):
                raise ModelError(f"{weights}: export needs ultralytics .pt weights")
            cache = cache or ExportCache(data_dir, weights)
            names = names or class_names_of(weights)
            if name == "openvino-int8":
                from vision.quantize import cached_int8

                xml, verdict = cached_int8(cache.root, cache.export("openvino"), names)
                if choice == "auto" and not verdict.accepted:
                    raise ModelError(f"not chosen: {verdict.reason}")
                return OpenVinoBackend(xml.parent, names, int8=True)
            if name == "openvino":
                return OpenVinoBackend(cache.export("openvino"), names)
            return OnnxRuntimeBackend(cache.export("onnx"), names)
        except Exception as exc:  # any failure means: try the next backend
            if choice != "auto":
                raise ModelError(f"detector backend {name} unavailable: {exc}") from exc
            log.warning("detector backend %s unavailable, falling back: %s", name, exc)
            notes.append(f"{name}: {exc}")
    raise ModelError(f"no detector backend could load {weights}: {'; '.join(notes)}")
