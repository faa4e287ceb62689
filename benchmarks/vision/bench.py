"""`parkpatrol bench vision`: throughput, latency, recall and CPU of the vision pipeline against the
baseline of calling ultralytics `predict` (PyTorch) on every frame, measured side by side in one run.

Runs (all on the same rendered streams, JPEG decoding included everywhere):
  baseline      ultralytics YOLO.predict, PyTorch, every frame (on an even sample of frames)
  backend       our detector (auto backend, e.g. OpenVINO), every frame, same sample   -> backend lever
  gating        motion gating + tracking, PyTorch backend, all frames                  -> gating lever
  full          motion gating + tracking, auto backend, all frames                     -> both levers
  live          the full runtime in real time, K cameras at `fps`: event latency, starvation
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.vision.scenes import OSD_MASK, BenchFrame, build_scenes, matched
from vision.config import CameraSpec
from vision.detector import Detector, Region
from vision.models import ModelSpec, load_yolo
from vision.pipeline import PipelineConfig
from vision.rules import Rule, Zone
from vision.runtime import VisionRuntime
from vision.sources import CameraHealth, FramePacket
from vision.types import Box, Frame

log = logging.getLogger(__name__)
T0 = 1795838400.0 - (1795838400.0 % 86400) + 2 * 3600  # 10:00 park time (UTC+8)


@dataclass
class RunResult:
    name: str
    frames: int
    wall_s: float
    cpu_s: float
    recall: float | None
    truths: int
    detect_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def decode(jpeg: bytes) -> Frame:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("benchmark frame is not a valid JPEG")
    return np.asarray(img, dtype=np.uint8)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _recall(hits: int, truths: int) -> float | None:
    return hits / truths if truths else None


def run_baseline(sample: Sequence[BenchFrame], weights: Path, conf: float) -> RunResult:
    yolo = load_yolo(weights)
    yolo.predict(decode(sample[0].jpeg), imgsz=640, conf=conf, verbose=False)  # warm-up
    hits = truths = 0

    def go() -> None:
        nonlocal hits, truths
        for f in sample:
            r = yolo.predict(decode(f.jpeg), imgsz=640, conf=conf, verbose=False)[0]
            boxes = [Box(*map(float, b)) for b in r.boxes.xyxy.cpu().numpy().tolist()]
            truths += len(f.truth)
            hits += sum(matched(t, boxes) for t in f.truth)

    _, wall, cpu = _timed(go)
    return RunResult("baseline (ultralytics predict, PyTorch, every frame)", len(sample), wall, cpu,
                     _recall(hits, truths), truths, len(sample))


def run_backend(sample: Sequence[BenchFrame], det: Detector) -> RunResult:
    det.detect([decode(sample[0].jpeg)])
    hits = truths = 0

    def go() -> None:
        nonlocal hits, truths
        for f in sample:
            boxes = [d.box for d in det.detect([decode(f.jpeg)])[0]]
            truths += len(f.truth)
            hits += sum(matched(t, boxes) for t in f.truth)

    _, wall, cpu = _timed(go)
    return RunResult(f"backend only ({det.backend}, every frame)", len(sample), wall, cpu,
                     _recall(hits, truths), truths, len(sample))


def bench_specs(cameras: Sequence[str], fps_cap: float) -> list[CameraSpec]:
    everywhere = Zone("view", ((0, 0), (640, 0), (640, 480), (0, 480)))
    return [CameraSpec(c, f"bench://{c}", zones=(everywhere,), rules=(Rule("restricted_zone", zone="view"),),
                       detect_fps=fps_cap, motion_mask=OSD_MASK) for c in cameras]


class CountingPublisher:
    """Publisher that only counts messages (the benchmark measures vision, not the broker)."""

    def __init__(self) -> None:
        self.messages = 0

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.messages += 1


def run_pipeline(name: str, scenes: dict[str, list[BenchFrame]], det: Detector, data_dir: Path,
                 sample_keys: set[tuple[str, int]], fps_cap: float, region_size: int) -> RunResult:
    specs = bench_specs(list(scenes), fps_cap)
    runtime = VisionRuntime(specs, CountingPublisher(), data_dir, detector=det,
                            pipeline=PipelineConfig(region_size=region_size),
                            sources={c: _IdleSource(c) for c in scenes})
    asyncio.run(runtime.__aenter__())
    n = max(len(v) for v in scenes.values())
    hits = truths = s_hits = s_truths = events = 0

    def go() -> None:
        nonlocal hits, truths, s_hits, s_truths, events
        for i in range(n):
            fresh = [(cid, FramePacket(decode(frames[i].jpeg), frames[i].t, i + 1))
                     for cid, frames in scenes.items() if i < len(frames)]
            events += len(runtime.process_frames(fresh))
            for cid, frames in scenes.items():
                if i >= len(frames):
                    continue
                f = frames[i]
                tracker = runtime.pipelines[cid].tracker
                boxes = [o.box for o in (tracker.active() if tracker else [])
                         if o.confirmed and f.t - o.last_seen <= 1.0]
                h = sum(matched(t, boxes) for t in f.truth)
                hits += h
                truths += len(f.truth)
                if (cid, i) in sample_keys:
                    s_hits += h
                    s_truths += len(f.truth)

    _, wall, cpu = _timed(go)
    frames = sum(len(v) for v in scenes.values())
    return RunResult(name, frames, wall, cpu, _recall(hits, truths), truths, runtime.stats.detect_calls,
                     {"recall_on_baseline_sample": _recall(s_hits, s_truths), "regions": runtime.stats.regions,
                      "events": events})


class _IdleSource:
    """No frames of its own: the offline runs hand frames to `process_frames` directly."""

    def __init__(self, camera: str) -> None:
        self.camera = camera

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def latest(self) -> FramePacket | None:
        return None

    def health(self) -> CameraHealth:
        return CameraHealth(self.camera, "online", 0.0, None, 0)


class _FeedSource:
    """Frames of one benchmark camera, appearing in real time at the stream's rate."""

    def __init__(self, camera: str, frames: list[Frame], fps: float) -> None:
        self.camera, self.frames, self.fps = camera, frames, fps
        self.t_start = 0.0
        self.offered = 0

    def start(self) -> None:
        self.t_start = time.time()

    def stop(self) -> None:
        return None

    def latest(self) -> FramePacket | None:
        k = int((time.time() - self.t_start) * self.fps)
        self.offered = k + 1
        return FramePacket(self.frames[k % len(self.frames)], self.t_start + k / self.fps, k + 1)

    def health(self) -> CameraHealth:
        return CameraHealth(self.camera, "online", self.fps, time.time(), 0)


class _OneCallRuntime(VisionRuntime):
    """The runtime's step as it was before scheduling, for the side-by-side live run: all new frames in
    one detector call, snapshots encoded inline, events published after the whole step."""

    async def step(self) -> int:
        fresh = []
        for cid, src in self.sources.items():
            pkt = src.latest()
            if pkt is not None and pkt.seq != self._last_seq.get(cid):
                self._last_seq[cid] = pkt.seq
                fresh.append((cid, pkt))
        events = await asyncio.to_thread(self.process_frames, fresh) if fresh else []
        for event, captured in events:
            await self._publish_event(event, captured)
        return len(fresh)


LIVE_DEFAULT = "scheduled, 0.3 s budget"
LIVE_VARIANTS = {
    "one call per step (before)": (_OneCallRuntime, float("inf")),
    "scheduled, no budget": (VisionRuntime, float("inf")),
    "scheduled, 0.3 s budget": (VisionRuntime, 0.3),
}


async def run_live(scenes: dict[str, list[BenchFrame]], det: Detector, data_dir: Path, seconds: float,
                   fps: float, fps_cap: float, region_size: int,
                   variant: str = LIVE_DEFAULT) -> dict[str, Any]:
    sources = {cid: _FeedSource(cid, [decode(f.jpeg) for f in frames], fps) for cid, frames in scenes.items()}
    timings_before = dataclasses.replace(det.timings)
    specs = bench_specs(list(scenes), fps_cap)
    kind, budget = LIVE_VARIANTS[variant]
    config = PipelineConfig(region_size=region_size, step_budget_s=budget)
    async with kind(specs, CountingPublisher(), data_dir, detector=det, sources=dict(sources),
                    poll_interval=0.005, pipeline=config, calibrate_batching=False) as runtime:
        for s in sources.values():
            s.start()  # the streams begin now, after the runtime (and its batching calibration) is ready
        c0 = time.process_time()
        task = asyncio.create_task(runtime.run())
        await asyncio.sleep(seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cpu = time.process_time() - c0
    lat = sorted(runtime.stats.latencies)
    tm, t0 = det.timings, timings_before
    inferences = max(1, tm.inferences - t0.inferences)
    offered = {cid: s.offered for cid, s in sources.items()}
    processed = {cid: runtime.stats.frames_by_camera.get(cid, 0) for cid in scenes}
    share = {cid: processed[cid] / max(1, offered[cid]) for cid in scenes}
    busy = [runtime.pipelines[cid].stats.detect_runs for cid, frames in scenes.items() if any(f.truth for f in frames)]
    return {
        "variant": variant, "backend": det.backend, "streams": det.streams,
        "seconds": seconds, "cameras": len(scenes), "fps_per_camera": fps,
        "events": len(lat), "deferred": runtime.stats.deferred,
        "latency_p50_ms": round(1e3 * statistics.median(lat), 1) if lat else None,
        "latency_p95_ms": round(1e3 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        "frames_offered": sum(offered.values()), "frames_processed": sum(processed.values()),
        "min_camera_processed_share": round(min(share.values()), 3),
        "detections_per_camera_with_people_min_max": [min(busy), max(busy)] if busy else None,
        "cpu_s_per_camera_second": round(cpu / len(scenes) / seconds, 4),
        "cores_used": round(cpu / seconds, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "stage_s": {k: round(v, 2) for k, v in runtime.stats.stage_s.items()},
        "detector_inferences": tm.inferences - t0.inferences,
        "detector_ms_per_inference": {
            "prepare": round(1e3 * (tm.prepare_s - t0.prepare_s) / inferences, 1),
            "infer": round(1e3 * (tm.infer_s - t0.infer_s) / inferences, 1),
            "postprocess": round(1e3 * (tm.postprocess_s - t0.postprocess_s) / inferences, 1),
        },
    }


def decode_lever(sample: Sequence[BenchFrame], repeats: int = 3) -> dict[str, float]:
    """CPU ms per frame to decode the cameras' JPEGs fully and at 1/4 size (enough for motion gating)."""
    jpegs = [np.frombuffer(f.jpeg, np.uint8) for f in sample]
    out: dict[str, float] = {}
    for name, flag in (("full", cv2.IMREAD_COLOR), ("reduced_4", cv2.IMREAD_REDUCED_COLOR_4)):
        c0 = time.process_time()
        for _ in range(repeats):
            for j in jpegs:
                cv2.imdecode(j, flag)
        out[f"{name}_cpu_ms"] = round(1e3 * (time.process_time() - c0) / (repeats * len(jpegs)), 2)
    return out


def _open_with(env: str, value: str, data_dir: Path, model: str | None, backend: str) -> Detector:
    """A detector opened with environment variable `env` set to `value` (threads, streams)."""
    old = os.environ.get(env)
    os.environ[env] = value
    try:
        return Detector.open(data_dir, model, backend)
    finally:
        if old is None:
            del os.environ[env]
        else:
            os.environ[env] = old


def _one_thread(data_dir: Path, model: str | None, backend: str) -> Detector:
    return _open_with("PARKPATROL_VISION_THREADS", "1", data_dir, model, backend)


def streams_lever(sample: Sequence[BenchFrame], one: Detector, two: Detector, rounds: int = 4) -> dict[str, Any]:
    """Wall and CPU ms per 320 px region when two regions go to the detector in one call: one stream
    (one after another, all threads each) against two streams (both in flight), interleaved."""
    frame = decode(sample[len(sample) // 2].jpeg)
    pair = [(frame, Region(0, 120, 320, 320)), (frame, Region(320, 120, 320, 320))]
    times: dict[str, list[tuple[float, float]]] = {"1 stream": [], "2 streams": []}
    for d in (one, two):
        d.detect_regions(pair)
    for _ in range(rounds):
        for name, d in (("1 stream", one), ("2 streams", two)):
            _, wall, cpu = _timed(functools.partial(d.detect_regions, pair))
            times[name].append((wall / 2, cpu / 2))
    return {k: {"wall_ms": round(1e3 * statistics.median(w for w, _ in v), 1),
                "cpu_ms": round(1e3 * statistics.median(c for _, c in v), 1)} for k, v in times.items()}


def threads_lever(sample: Sequence[BenchFrame], det: Detector, data_dir: Path, model: str | None,
                  backend: str, rounds: int = 4, one_thread_only: bool = False) -> dict[str, Any]:
    """CPU and wall ms per 320 px region with `det` against `backend` at one thread, interleaved so
    that both see the same load (`one_thread_only`: `det` at one thread too, e.g. f32 against INT8)."""
    one = _one_thread(data_dir, model, backend)
    if one_thread_only:
        det = _one_thread(data_dir, model, det.backend)
    frame = decode(sample[len(sample) // 2].jpeg)
    region = [(frame, Region(160, 120, 320, 320))]
    times: dict[str, list[tuple[float, float]]] = {f"{det.backend} {det.info.detail}": [],
                                                   f"{one.backend} {one.info.detail}": []}
    for d in (det, one):
        d.detect_regions(region)
    def three(d: Detector) -> None:
        for _ in range(3):
            d.detect_regions(region)

    for _ in range(rounds):
        for d in (det, one):
            _, wall, cpu = _timed(functools.partial(three, d))
            times[f"{d.backend} {d.info.detail}"].append((wall / 3, cpu / 3))
    return {k: {"wall_ms": round(1e3 * statistics.median(w for w, _ in v), 1),
                "cpu_ms": round(1e3 * statistics.median(c for _, c in v), 1)} for k, v in times.items()}


def run_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    data_dir: Path = args.data_dir or Path(os.environ.get("PARKPATROL_DATA_DIR", "data"))
    spec = ModelSpec.from_arg(args.model)
    t_render = time.perf_counter()
    scenes = build_scenes(args.cameras, args.seconds, args.fps, T0)
    render_s = time.perf_counter() - t_render
    all_frames = [f for frames in scenes.values() for f in frames]
    step = max(1, len(all_frames) // max(1, args.baseline_frames))
    sample = all_frames[::step][: args.baseline_frames]
    sample_keys = {(f.camera, f.index) for f in sample}
    fast = Detector.open(data_dir, args.model, args.backend)
    torch_det = Detector.open(data_dir, args.model, "pytorch")
    # the INT8 lever is measured against f32 OpenVINO in the same run
    f32 = Detector.open(data_dir, args.model, "openvino") if fast.backend == "openvino-int8" else None
    fps_cap = 3.0
    runs = [run_baseline(sample, spec.path, fast.conf), run_backend(sample, fast)]
    if f32 is not None:
        runs.append(run_backend(sample, f32))
    runs += [
        run_pipeline(f"motion gating only (pytorch, detect cap {fps_cap:g}/s)", scenes, torch_det,
                     data_dir / "bench-gating", sample_keys, fps_cap, args.region_size),
        run_pipeline(f"gating + {fast.backend} (full pipeline)", scenes, fast, data_dir / "bench-full",
                     sample_keys, fps_cap, args.region_size),
    ]
    if f32 is not None:
        runs.append(run_pipeline("gating + openvino f32 (full pipeline)", scenes, f32, data_dir / "bench-full-f32",
                                 sample_keys, fps_cap, args.region_size))
    base = runs[0]
    levers: dict[str, Any] = {"decode": decode_lever(sample),
                              "threads": threads_lever(sample, fast, data_dir, args.model, args.backend)}
    if f32 is not None:
        levers["int8_vs_f32_one_thread"] = threads_lever(sample, f32, data_dir, args.model, "openvino-int8",
                                                         one_thread_only=True)
    two = (_open_with("PARKPATROL_VISION_STREAMS", "2", data_dir, args.model, fast.backend)
           if fast.backend.startswith("openvino") and fast.streams == 1 else None)
    if two is not None:
        levers["streams"] = streams_lever(sample, fast, two)
    live: list[dict[str, Any]] = []
    for variant in (LIVE_VARIANTS if args.live_seconds > 0 else ()):
        # the budget variant also runs with f32 and with 2 streams, right after, under the same load
        for d in ((fast, f32, two) if variant == LIVE_DEFAULT else (fast,)):
            if d is None:
                continue
            live.append(asyncio.run(run_live(scenes, d, data_dir / "bench-live", args.live_seconds, args.fps,
                                             fps_cap, args.region_size, variant)))
    report: dict[str, Any] = {
        "cameras": args.cameras, "fps": args.fps, "stream_seconds": args.seconds,
        "frames_total": len(all_frames), "frames_with_people": sum(1 for f in all_frames if f.truth),
        "render_seconds": round(render_s, 1), "backend": fast.backend, "backend_detail": fast.info.detail,
        "backend_fallbacks": fast.info.fallbacks, "batching": fast.batching,
        "cpu_count": os.cpu_count(), "region_size": args.region_size,
        "runs": [{
            "name": r.name, "frames": r.frames, "wall_s": round(r.wall_s, 2), "cpu_s": round(r.cpu_s, 2),
            "frames_per_s": round(r.fps, 2), "cameras_at_fps": round(r.fps / args.fps, 2),
            "throughput_vs_baseline": round(r.fps / base.fps, 2) if base.fps else None,
            "frames_per_cpu_s": round(r.frames / r.cpu_s, 2) if r.cpu_s else None,
            "cpu_efficiency_vs_baseline": (round((r.frames / r.cpu_s) / (base.frames / base.cpu_s), 2)
                                           if r.cpu_s and base.cpu_s else None),
            "recall": round(r.recall, 3) if r.recall is not None else None,
            "cpu_s_per_camera_second": round(r.cpu_s / (r.frames / args.fps), 4) if r.frames else None,
            "detect_calls": r.detect_calls, **{k: (round(v, 3) if isinstance(v, float) else v)
                                               for k, v in r.extra.items()},
        } for r in runs],
        "levers": levers,
        "live": live,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def _print_table(report: dict[str, Any]) -> None:
    print(f"vision bench: {report['cameras']} cameras x {report['stream_seconds']} s at {report['fps']} fps, "
          f"{report['frames_total']} frames ({report['frames_with_people']} with people), "
          f"backend {report['backend']}")
    print(f"{'run':<52} {'frames/s':>9} {'x base':>7} {'fr/cpu-s':>9} {'x base':>7} {'recall':>7} "
          f"{'cpu/cam-s':>10}")
    for r in report["runs"]:
        print(f"{r['name']:<52} {r['frames_per_s']:>9.1f} {r['throughput_vs_baseline']:>7.2f} "
              f"{r['frames_per_cpu_s']:>9} {r['cpu_efficiency_vs_baseline']:>7} "
              f"{r['recall'] if r['recall'] is not None else '-':>7} {r['cpu_s_per_camera_second']:>10}")
    print(f"decode CPU ms per frame: {report['levers']['decode']}; detector threads, ms per 320 px region: "
          f"{report['levers']['threads']}; int8 vs f32: {report['levers'].get('int8_vs_f32_one_thread')}")
    for lv in report["live"]:
        print(f"live, {lv['variant']}, {lv['backend']} x{lv['streams']}: {lv['cameras']} cameras at "
              f"{lv['fps_per_camera']} fps "
              f"for {lv['seconds']} s: "
              f"{lv['frames_processed']}/{lv['frames_offered']} frames, {lv['events']} events, "
              f"latency p50 {lv['latency_p50_ms']} ms, p95 {lv['latency_p95_ms']} ms, "
              f"min camera share {lv['min_camera_processed_share']}, {lv['cores_used']} cores, "
              f"load {lv['load_average_1m']}, stages {lv['stage_s']}, detector ms/inference "
              f"{lv['detector_ms_per_inference']}")
