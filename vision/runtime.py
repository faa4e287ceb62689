"""The vision runtime: camera readers, one shared detector, per-camera pipelines, publishing.

In-process (inside `parkpatrol serve`) or as a worker (`parkpatrol vision`):

    async with VisionRuntime(cameras, publisher, data_dir) as vision:
        await vision.run()          # until cancelled

Cameras can be added and removed while running (`add_camera`, `remove_camera`): a worker of a cluster
(vision.worker) starts the cameras it gains and stops those it loses when the membership changes.
A worker also publishes each event's best JPEG (`publish_snapshots=True`) so the service can store
and serve snapshots it did not take itself.

`publisher` is anything with `async def publish(topic, payload, qos, retain)`: the service's MQTT bus,
or `vision.mqtt.MqttPublisher` in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

import orjson

from robots.clock import Clock, WallClock
from vision import topics
from vision.config import CameraSpec
from vision.detector import Detector, Region
from vision.events import VisionEvent
from vision.pipeline import CameraPipeline, PipelineConfig
from vision.snapshots import MAX_SNAPSHOT_BYTES, SnapshotError, SnapshotStore
from vision.sources import CameraHealth, CameraReader, FramePacket, FrameSource
from vision.types import Detection, Frame

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...


@dataclass
class RuntimeStats:
    frames: int = 0
    detect_calls: int = 0
    regions: int = 0
    events: int = 0
    publish_errors: int = 0
    snapshots_published: int = 0
    processing_errors: int = 0
    deferred: int = 0
    latencies: list[float] = field(default_factory=list)
    frames_by_camera: dict[str, int] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (motion, detect, track, snapshot, publish), summed: where a step's time goes."""

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds


@dataclass(frozen=True)
class _Work:
    camera: str
    packet: FramePacket
    regions: list[Region | None]
    waiting_since: float
    """When this camera last had a frame planned for detection: who waited longest goes first."""
    confirming: bool
    """A fresh track waits for confirmation: a possible alert goes before everything else."""


class VisionRuntime:
    """Runs all cameras of this process through one detector and publishes events and health."""

    def __init__(
        self,
        cameras: Sequence[CameraSpec],
        publisher: Publisher,
        data_dir: Path,
        clock: Clock | None = None,
        *,
        detector: Detector | None = None,
        model: str | Path | None = None,
        backend: str = "auto",
        sources: Mapping[str, FrameSource] | None = None,
        pipeline: PipelineConfig | None = None,
        status_interval: float = 10.0,
        poll_interval: float = 0.02,
        snapshot_retention: float = 7 * 86400,
        on_event: Callable[[VisionEvent], None] | None = None,
        calibrate_batching: bool = False,
        worker_id: str | None = None,
        publish_snapshots: bool = False,
        detect: bool = True,
        connect_grace: float = 5.0,
    ) -> None:
        ids = [c.id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate camera ids: {ids}")
        self.cameras = {c.id: c for c in cameras}
        self.publisher = publisher
        self.data_dir = data_dir
        self.clock = clock or WallClock()
        self.detector = detector
        self._model, self._backend = model, backend
        self._given_sources = dict(sources or {})
        self.sources: dict[str, FrameSource] = {}
        self.pipeline_config = pipeline or PipelineConfig()
        self.status_interval = status_interval
        self.poll_interval = poll_interval
        self.snapshots = SnapshotStore(data_dir / "snapshots", retain_seconds=snapshot_retention)
        self.pipelines: dict[str, CameraPipeline] = {}
        self.on_event = on_event
        self.calibrate_batching = calibrate_batching
        """Measure at start whether batches of 4 beat single inputs and batch if so. Off by default: a
        batch is one long detector call that the step budget cannot cut, and the INT8 model, for which
        the measurement says batch, ran live with p95 1435 ms batched against 776-910 ms unbatched
        (16 cameras, BENCHMARKS.md, Vision 2026-11-29 INT8)."""
        self.stats = RuntimeStats()
        self._last_seq: dict[str, int] = {}
        self._health_sent: dict[str, tuple[str, float]] = {}
        self.worker_id = worker_id
        self.publish_snapshots = publish_snapshots
        self.detect = detect
        """False: health only (streams read and reported, no detection, no events, no model loaded)."""
        self._snap_sent: dict[str, int] = {}
        self._cameras_lock = asyncio.Lock()
        self.connect_grace = connect_grace
        """A camera just started is not reported offline before its first frame within this many seconds
        (a camera taken over from another worker must not flap offline, which would raise an alarm)."""
        self._opened_at: dict[str, float] = {}

    async def __aenter__(self) -> VisionRuntime:
        if self.detector is None and self.detect:
            self.detector = await asyncio.to_thread(
                Detector.open, self.data_dir, self._model, self._backend)
        if self.detector is not None and self.calibrate_batching and len(self.cameras) > 1:
            await asyncio.to_thread(self.detector.calibrate_batching)
        for cam in self.cameras.values():
            self._open_camera(cam)
        for src in self.sources.values():
            src.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self._stop_sources, list(self.sources.values()))
        for cam in self.cameras:
            health = CameraHealth(cam, "offline", 0.0, None, 0, "vision runtime stopped")
            with contextlib.suppress(Exception):
                await self._publish_health(health, force=True)

    def _open_camera(self, cam: CameraSpec) -> None:
        self._opened_at[cam.id] = self.clock.now()
        self.sources[cam.id] = self._given_sources.get(cam.id) or CameraReader(cam.id, cam.source)
        if self.detector is not None:
            self.pipelines[cam.id] = CameraPipeline(cam, self.detector.labels, self.snapshots,
                                                    self.pipeline_config)

    @staticmethod
    def _stop_sources(sources: list[FrameSource]) -> None:
        for src in sources:
            src.stop()

    async def add_camera(self, cam: CameraSpec) -> None:
        """Start watching `cam` (its reader starts at once; frames flow from the next step)."""
        async with self._cameras_lock:
            if cam.id in self.sources:
                raise ValueError(f"camera {cam.id} is already running")
            self.cameras[cam.id] = cam
            self._open_camera(cam)
            self.sources[cam.id].start()
            log.info("camera %s: started", cam.id)

    async def remove_camera(self, camera_id: str, *, mark_offline: bool = False) -> None:
        """Stop watching a camera: its open events end, its reader thread is stopped and joined.

        Its status is left alone unless `mark_offline` (another worker takes it over and reports it).
        """
        async with self._cameras_lock:
            src = self.sources.pop(camera_id, None)
            if src is None:
                return
            pipeline = self.pipelines.pop(camera_id, None)
            self.cameras.pop(camera_id, None)
            self._last_seq.pop(camera_id, None)
            self._health_sent.pop(camera_id, None)
            self._opened_at.pop(camera_id, None)
            now = self.clock.now()
            try:
                ended = pipeline.close(now) if pipeline is not None else []
            except Exception:
                self.stats.processing_errors += 1
                log.exception("camera %s: ending its open events failed", camera_id)
                ended = []
            try:
                await asyncio.to_thread(self._stop_sources, [src])
            finally:
                for event in ended:
                    await self._publish_event(event, now)
            if mark_offline:
                health = CameraHealth(camera_id, "offline", 0.0, None, 0, "vision worker stopped the camera")
                await self._publish_health(health, force=True)
            log.info("camera %s: stopped", camera_id)

    def snapshot(self, event_id: str, boxes: bool = False) -> bytes:
        """JPEG of an event's best snapshot (raises `SnapshotError` if none)."""
        return self.snapshots.get(event_id, boxes=boxes)

    def health(self) -> dict[str, CameraHealth]:
        return {cid: src.health() for cid, src in self.sources.items()}

    async def run(self) -> None:
        """Process frames until cancelled."""
        last_prune = 0.0
        while True:
            await self.step()
            now = self.clock.now()
            if now - last_prune > 3600:
                last_prune = now
                await asyncio.to_thread(self.snapshots.prune)
            await self.clock.sleep(self.poll_interval)

    async def step(self) -> int:
        """One pass over all cameras: newest frames processed, events and health published."""
        async with self._cameras_lock:
            return await self._step()

    async def _step(self) -> int:
        """Every camera with a new frame is planned (motion gate) first; the frames that need detection
        then go one detector call at a time, fresh tracks awaiting confirmation first, then the camera
        that waited longest since its last detection, and each one's events are published as soon as
        it is tracked. Once the step has spent `step_budget_s` detecting, the frames still waiting are
        given back: those cameras' next frames go first in the next step (bounded latency, no camera
        starves). Snapshots are encoded after all of the step's events are out.
        """
        fresh: list[tuple[str, FramePacket]] = []
        for cid, src in self.sources.items():
            pkt = src.latest()
            if pkt is not None and pkt.seq != self._last_seq.get(cid):
                self._last_seq[cid] = pkt.seq
                fresh.append((cid, pkt))
        stale = [cid for cid in self.sources if cid not in {c for c, _ in fresh}]
        works: list[_Work] = []
        events: list[tuple[VisionEvent, float]] = []
        step_events: list[VisionEvent] = []
        if fresh and self.detector is None:  # health only: frames are counted, nothing is analysed
            self.stats.frames += len(fresh)
            for cid, _ in fresh:
                self.stats.frames_by_camera[cid] = self.stats.frames_by_camera.get(cid, 0) + 1
        elif fresh:
            works, events = await asyncio.to_thread(self.plan_frames, fresh)
        for cid in stale:
            if cid in self.pipelines:
                events += [(e, self.clock.now()) for e in self.pipelines[cid].idle(self.clock.now())]
        await self._publish_events(events, step_events)
        started = time.perf_counter()
        chunks = self._chunks(works)
        for i, chunk in enumerate(chunks):
            if i and time.perf_counter() - started > self.pipeline_config.step_budget_s:
                for w in (w for rest in chunks[i:] for w in rest):
                    pipe = self.pipelines.get(w.camera)  # None if the camera was removed meanwhile
                    if pipe is not None:
                        pipe.defer()
                        self.stats.deferred += 1
                break
            await self._publish_events(await asyncio.to_thread(self.detect_frames, chunk), step_events)
        if works:
            await asyncio.to_thread(self.save_snapshots, {w.camera for w in works})
            if self.publish_snapshots:  # snapshots stored just now follow their events out
                for event in step_events:
                    await self._publish_snapshot(event)
        now = self.clock.now()
        for health in self.health().values():
            if (health.state == "offline" and health.last_frame_time is None
                    and now - self._opened_at.get(health.camera, 0.0) < self.connect_grace):
                continue  # still connecting
            await self._publish_health(health)
        return len(fresh)

    def process_frames(self, fresh: list[tuple[str, FramePacket]]) -> list[tuple[VisionEvent, float]]:
        """Process one new frame per camera (blocking; one detector call for all); events to publish."""
        works, out = self.plan_frames(fresh)
        if works:
            out += self.detect_frames(works)
            self.save_snapshots({w.camera for w in works})
        return out

    def plan_frames(self, fresh: list[tuple[str, FramePacket]]
                    ) -> tuple[list[_Work], list[tuple[VisionEvent, float]]]:
        """Motion gate every new frame (blocking): the frames to detect on, in the order to run them
        (fresh tracks awaiting confirmation first, then the camera that waited longest since its last
        detection), and the events of the frames that skip detection."""
        works: list[_Work] = []
        out: list[tuple[VisionEvent, float]] = []
        t0 = time.perf_counter()
        for cid, pkt in fresh:
            if pkt.frame.ndim != 3 or pkt.frame.shape[2] != 3 or min(pkt.frame.shape[:2]) < 16:
                self.stats.processing_errors += 1
                log.warning("camera %s: dropping a frame of unusable shape %s", cid, pkt.frame.shape)
                continue
            self.stats.frames += 1
            self.stats.frames_by_camera[cid] = self.stats.frames_by_camera.get(cid, 0) + 1
            waiting_since = self.pipelines[cid].last_detect
            try:
                regions = self.pipelines[cid].plan(pkt.frame, pkt.captured)
            except Exception:
                self.stats.processing_errors += 1
                log.exception("camera %s: motion gate failed on a frame of shape %s", cid, pkt.frame.shape)
                continue
            if regions is None:
                out += [(e, pkt.captured) for e in self.pipelines[cid].idle(pkt.captured)]
            else:
                works.append(_Work(cid, pkt, regions,
                                   waiting_since if waiting_since is not None else float("-inf"),
                                   self.pipelines[cid].confirming))
        # confirming lasts a second at most after a sighting, so it cannot starve the other cameras
        works.sort(key=lambda w: (not w.confirming, w.waiting_since, w.packet.captured))
        self.stats.add_time("motion", time.perf_counter() - t0)
        return works, out

    def _chunks(self, works: list[_Work]) -> list[list[_Work]]:
        """One frame per detector call; a few per call where batching measured faster, or as many as the
        detector runs at once (OpenVINO streams)."""
        det = self.detector
        size = 1 if det is None else 4 if det.batching else det.streams
        return [works[i:i + size] for i in range(0, len(works), size)]

    def detect_frames(self, works: list[_Work]) -> list[tuple[VisionEvent, float]]:
        """Detect on the planned frames in one detector call, track, evaluate rules (blocking)."""
        assert self.detector is not None
        out: list[tuple[VisionEvent, float]] = []
        items: list[tuple[Frame, Region | None]] = [(w.packet.frame, r) for w in works for r in w.regions]
        t0 = time.perf_counter()
        try:
            results = self.detector.detect_regions(items, region_size=self.pipeline_config.region_size)
        except Exception:
            self.stats.processing_errors += 1
            log.exception("detector failed on %d regions", len(items))
            return out
        finally:
            t1 = time.perf_counter()
            self.stats.add_time("detect", t1 - t0)
        self.stats.detect_calls += 1
        self.stats.regions += len(items)
        k = 0
        for w in works:
            dets: list[Detection] = [d for r in results[k:k + len(w.regions)] for d in r]
            k += len(w.regions)
            pipe = self.pipelines.get(w.camera)
            if pipe is None:  # removed while its frame was being detected on
                continue
            try:
                events = pipe.ingest(w.packet.frame, dets, w.packet.captured)
            except Exception:
                self.stats.processing_errors += 1
                log.exception("camera %s: tracking/rules failed on %d detections", w.camera, len(dets))
                continue
            out += [(e, w.packet.captured) for e in events]
        self.stats.add_time("track", time.perf_counter() - t1)
        return out

    def save_snapshots(self, cameras: set[str]) -> None:
        """Encode and store the snapshots the cameras' last frames chose (blocking)."""
        t0 = time.perf_counter()
        for cid in cameras:
            pipe = self.pipelines.get(cid)
            if pipe is not None:
                pipe.save_snapshots()
        self.stats.add_time("snapshot", time.perf_counter() - t0)

    async def _publish_events(self, events: list[tuple[VisionEvent, float]],
                              published: list[VisionEvent] | None = None) -> None:
        t0 = time.perf_counter()
        for event, captured in events:
            await self._publish_event(event, captured)
            if published is not None:
                published.append(event)
        if events:
            self.stats.add_time("publish", time.perf_counter() - t0)

    async def _publish_event(self, event: VisionEvent, captured: float) -> None:
        if self.publish_snapshots:
            await self._publish_snapshot(event)
        payload = event.model_dump_json(exclude_none=False).encode()
        try:
            await self.publisher.publish(topics.EVENTS, payload, 1, False)
        except Exception as exc:
            self.stats.publish_errors += 1
            log.warning("publishing %s event %s failed: %s", event.type, event.after.id, exc)
            return
        self.stats.events += 1
        self.stats.latencies.append(time.time() - captured)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("on_event callback failed for %s", event.after.id)

    async def _publish_snapshot(self, event: VisionEvent) -> None:
        """Send the event's best JPEG once it is stored (right after the event), again when a better one replaces it."""
        eid = event.after.id
        sent = self._snap_sent.pop(eid, None) if event.type == "end" else self._snap_sent.get(eid)
        if not event.after.has_snapshot:
            return
        try:
            stamp = self.snapshots.stamp(eid)
            if stamp is None or stamp == sent:
                return
            jpeg = await asyncio.to_thread(self.snapshots.get, eid)
            if len(jpeg) > MAX_SNAPSHOT_BYTES:
                raise SnapshotError(f"{len(jpeg)} bytes, over the {MAX_SNAPSHOT_BYTES}-byte limit")
            topic = topics.snapshot(eid)
        except (SnapshotError, ValueError, OSError) as exc:
            self.stats.processing_errors += 1
            log.warning("snapshot of event %s not published: %s", eid, exc)
            return
        try:
            await self.publisher.publish(topic, jpeg, 1, False)
        except Exception as exc:
            self.stats.publish_errors += 1
            log.warning("publishing the snapshot of event %s failed: %s", eid, exc)
            return
        self.stats.snapshots_published += 1
        if event.type != "end":
            self._snap_sent[eid] = stamp

    async def _publish_health(self, health: CameraHealth, force: bool = False) -> None:
        now = self.clock.now()
        sent = self._health_sent.get(health.camera)
        if not force and sent is not None and sent[0] == health.state and now - sent[1] < self.status_interval:
            return
        try:
            payload = health.payload()
            if self.worker_id is not None:
                payload["worker"] = self.worker_id
            await self.publisher.publish(topics.camera_status(health.camera), orjson.dumps(payload), 1, True)
        except Exception as exc:
            self.stats.publish_errors += 1
            log.warning("publishing status of camera %s failed: %s", health.camera, exc)
            return
        self._health_sent[health.camera] = (health.state, now)
