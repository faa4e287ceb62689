"""Live A/B of the detector levers only (the live part of `parkpatrol bench vision`, without the slow
offline runs): the same K-camera real-time run with each detector setting in turn, alternated over
`--rounds` so that all see the same load on a shared machine.

    nice -n 10 python -m benchmarks.vision.live_ab --json [--cameras 16] [--rounds 2] [--data-dir DIR]

Settings: OpenVINO f32; INT8; INT8 with 2 streams (two inputs in flight); INT8 with batches of 4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.vision.bench import LIVE_DEFAULT, T0, _open_with, run_live
from benchmarks.vision.scenes import build_scenes
from vision.detector import Detector


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--seconds", type=float, default=12.0, help="stream length per camera (loops)")
    p.add_argument("--live-seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("PARKPATROL_DATA_DIR", "data")))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    scenes = build_scenes(args.cameras, args.seconds, args.fps, T0)
    f32 = Detector.open(args.data_dir, None, "openvino")
    int8 = Detector.open(args.data_dir, None, "openvino-int8")
    two = _open_with("PARKPATROL_VISION_STREAMS", "2", args.data_dir, None, "openvino-int8")
    batched = Detector.open(args.data_dir, None, "openvino-int8")
    batched.batching = True  # what calibrate_batching chose for INT8 in the full bench (2026-11-29)
    settings: dict[str, Detector] = {"f32": f32, "int8": int8, "int8, 2 streams": two, "int8, batch 4": batched}
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in settings}
    for r in range(args.rounds):
        order = list(settings) if r % 2 == 0 else list(reversed(settings))
        for name in order:
            results[name].append(asyncio.run(run_live(
                scenes, settings[name], args.data_dir / "bench-live", args.live_seconds, args.fps, 3.0, 320,
                LIVE_DEFAULT)))
    keys = ("latency_p50_ms", "latency_p95_ms", "events", "min_camera_processed_share", "cores_used",
            "load_average_1m", "detector_inferences", "deferred")
    report = {"cameras": args.cameras, "fps": args.fps, "live_seconds": args.live_seconds, "rounds": args.rounds,
              "finished": time.strftime("%H:%M UTC", time.gmtime()),
              "settings": {name: {"runs": [{k: lv[k] for k in keys} | {"infer_ms": lv["detector_ms_per_inference"]
                                                                       ["infer"]} for lv in runs],
                                  "p95_median_ms": statistics.median(
                                      [lv["latency_p95_ms"] for lv in runs if lv["latency_p95_ms"] is not None]
                                      or [float("nan")])}
                           for name, runs in results.items()}}
    print(json.dumps(report, indent=2) if args.json else report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
