"""Vision inside `parkpatrol serve`: the park's fixed cameras through one `vision.VisionRuntime`.

Cameras, their image->ground mappings and the map zones they overlook come from the park map;
rules per camera: a person in a restricted / no-go / after-hours zone while the zone's schedule
is active, and a fallen person anywhere in view. Events go out on the broker like a separate
vision worker's would, so the alarms ingest treats both alike.

Snapshots are served here from one store: those the in-process runtime takes, and those separate
workers (`parkpatrol vision --worker-id ...`) publish on `parkpatrol/vision/snapshots/<event_id>`,
which are checked (size, JPEG) and stored with the same retention.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import shapely
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ValidationError

from maps import Camera, Park, Zone
from patrol.api.deps import ViewerUser, field_error, state_item
from vision import topics as vision_topics
from vision.cluster import AssignmentRecord, WorkerRecord
from vision.config import CameraSpec
from vision.geometry import Homography
from vision.rules import Rule
from vision.rules import Zone as VisionZone
from vision.runtime import VisionRuntime
from vision.snapshots import MAX_SNAPSHOT_BYTES, SnapshotError, SnapshotStore

if TYPE_CHECKING:
    from patrol.app import Loop, Subsystem
    from patrol.runtime import Runtime

log = logging.getLogger(__name__)
WATCHED_KINDS = ("restricted", "no_go", "after_hours")


def stream_url(camera: Camera, base_url: str | None) -> str:
    """The camera's stream URL, with scheme://host:port replaced by `base_url` when given."""
    if not base_url:
        return camera.stream_url
    return re.sub(r"^[a-z]+://[^/]+", base_url.rstrip("/"), camera.stream_url)


def _schedule(zone: Zone) -> Callable[[float], bool]:
    def active(now: float) -> bool:
        return zone.active_at(datetime.fromtimestamp(now, tz=UTC))

    return active


def camera_spec(park: Park, camera: Camera, base_url: str | None) -> CameraSpec:
    """A camera of the map as the vision runtime wants it: source, homography, zones and rules."""
    cone = shapely.Polygon(camera.fov_polygon())
    zones: list[VisionZone] = []
    rules: list[Rule] = [Rule("fall")]
    for z in park.zones.values():
        if z.kind not in WATCHED_KINDS or not cone.intersects(shapely.Polygon(z.polygon)):
            continue
        zones.append(VisionZone(z.id, tuple(z.polygon), "ground", _schedule(z)))
        rules.append(Rule("restricted_zone", zone=z.id))
    return CameraSpec(id=camera.id, source=stream_url(camera, base_url), zones=tuple(zones), rules=tuple(rules),
                      homography=Homography.from_matrix(camera.homography.matrix))


class _BusPublisher:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        await self.rt.bus.publish(topic, payload, qos=qos, retain=retain)


@dataclass
class RemoteSnapshotStats:
    stored: int = 0
    rejected: int = 0
    failed: int = 0


@dataclass
class RemoteSnapshots:
    """Stores the snapshots vision workers publish; a bad payload is logged, counted and dropped."""

    store: SnapshotStore
    max_bytes: int = MAX_SNAPSHOT_BYTES
    stats: RemoteSnapshotStats = field(default_factory=RemoteSnapshotStats)

    async def handle(self, topic: str, payload: bytes) -> None:
        event_id = vision_topics.last_level(topic, vision_topics.SNAPSHOTS_FILTER)
        if event_id is None or not vision_topics.valid_event_id(event_id):
            self.stats.rejected += 1
            log.warning("%s: not a snapshot topic (parkpatrol/vision/snapshots/<event_id>)", topic[:200])
            return
        if len(payload) > self.max_bytes:  # checked here too, before a thread is spent on it
            self.stats.rejected += 1
            log.warning("%s: snapshot of %d bytes, over the %d-byte limit; dropped", topic, len(payload),
                        self.max_bytes)
            return
        try:
            await asyncio.to_thread(self.store.put, event_id, payload, max_bytes=self.max_bytes)
        except ValueError as e:
            self.stats.rejected += 1
            log.warning("%s: %s; dropped", topic, e)
            return
        except OSError as e:
            self.stats.failed += 1
            log.error("%s: storing the snapshot failed: %s", topic, e)
            return
        self.stats.stored += 1


class WorkerPublic(BaseModel):
    id: str
    state: str
    capacity: float
    started_at: float
    heartbeat: float
    cameras: list[str]


@dataclass
class VisionWorkers:
    """The cluster as its retained records tell it: each worker's record and the cameras it watches."""

    records: dict[str, WorkerRecord] = field(default_factory=dict)
    cameras: dict[str, list[str]] = field(default_factory=dict)
    bad_records: int = 0

    def handle(self, topic: str, payload: bytes) -> None:
        wid = vision_topics.last_level(topic, vision_topics.WORKERS_FILTER)
        kind = "worker"
        if wid is None:
            wid, kind = vision_topics.last_level(topic, vision_topics.ASSIGNMENTS_FILTER), "assignment"
        if wid is None:
            self.bad_records += 1
            log.warning("%s: not a vision worker topic", topic[:200])
            return
        if not payload:
            (self.records if kind == "worker" else self.cameras).pop(wid, None)
            return
        try:
            if len(payload) > 65536:
                raise ValueError(f"{len(payload)} bytes, too large for a record")
            if kind == "worker":
                self.records[wid] = WorkerRecord.model_validate_json(payload)
            else:
                self.cameras[wid] = AssignmentRecord.model_validate_json(payload).cameras
        except (ValidationError, ValueError) as e:
            self.bad_records += 1
            log.warning("%s: bad %s record: %s", topic, kind, str(e).replace("\n", "; ")[:300])

    def public(self) -> list[WorkerPublic]:
        return [WorkerPublic(id=w, state=r.state, capacity=r.capacity, started_at=r.started_at,
                             heartbeat=r.heartbeat, cameras=self.cameras.get(w, []))
                for w, r in sorted(self.records.items())]


async def _prune_loop(store: SnapshotStore, every_s: float = 3600.0) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(store.prune)
        except OSError as e:
            log.error("pruning snapshots in %s failed: %s", store.root, e)
        else:
            if removed:
                log.info("pruned %d old snapshots", removed)
        await asyncio.sleep(every_s)


def vision_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        vs = rt.settings.vision
        store = SnapshotStore(rt.settings.data_dir / "vision" / "snapshots")
        remote = RemoteSnapshots(store)
        rt.extras["vision_snapshots"] = store
        rt.extras["vision_remote_snapshots"] = remote
        rt.bus.subscribe(vision_topics.SNAPSHOTS_FILTER, remote.handle, 1)
        workers = VisionWorkers()
        rt.extras["vision_workers"] = workers
        rt.bus.subscribe(vision_topics.WORKERS_FILTER, workers.handle, 1)
        rt.bus.subscribe(vision_topics.ASSIGNMENTS_FILTER, workers.handle, 1)
        loops: list[Loop] = [lambda: _prune_loop(store)]
        if not vs.enabled or not rt.park.cameras:
            return loops
        specs = [camera_spec(rt.park, c, vs.camera_base_url) for c in rt.park.cameras.values()]
        runtime = VisionRuntime(specs, _BusPublisher(rt), rt.settings.data_dir / "vision", rt.clock,
                                model=vs.model)
        try:
            await stack.enter_async_context(runtime)
        except Exception as e:  # a missing model or backend must not take the whole service down
            log.error("vision could not start (%s); cameras are not analysed", e)
            reason = f"not running: {e}"
            rt.extras["health_probes"] = {**rt.extras.get("health_probes", {}),
                                          "vision": lambda: (False, False, reason)}
            return loops
        rt.extras["vision"] = runtime

        def probe() -> tuple[bool, bool, str]:
            health = runtime.health()
            online = sum(1 for h in health.values() if h.state == "online")
            return online == len(health), False, f"{online} of {len(health)} cameras online"

        rt.extras["health_probes"] = {**rt.extras.get("health_probes", {}), "vision": probe}
        log.info("vision: %d cameras, detector %s", len(specs), runtime.detector)
        return [*loops, runtime.run]

    return Subsystem("vision", setup)


router = APIRouter(prefix="/api/vision", tags=["vision"])


@router.get("/events/{event_id}/snapshot.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
async def snapshot(request: Request, event_id: str, user: ViewerUser,
                   boxes: Annotated[bool, Query(description="draw the detection boxes")] = False) -> Response:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", event_id):
        raise field_error("path", "event_id", "1-128 of A-Z a-z 0-9 _ . : -")
    store: SnapshotStore = state_item(request, "vision_snapshots", SnapshotStore)
    try:
        jpeg = await asyncio.to_thread(store.get, event_id, boxes=boxes)
    except SnapshotError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event_id: no snapshot for {event_id}") from e
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


class ClusterPublic(BaseModel):
    workers: list[WorkerPublic]
    remote_snapshots: dict[str, int]
    bad_worker_records: int


@router.get("/workers", response_model=ClusterPublic, summary="Vision workers and the cameras each watches")
async def workers(request: Request, user: ViewerUser) -> ClusterPublic:
    cluster: VisionWorkers = state_item(request, "vision_workers", VisionWorkers)
    remote: RemoteSnapshots = state_item(request, "vision_remote_snapshots", RemoteSnapshots)
    return ClusterPublic(workers=cluster.public(), remote_snapshots=dict(remote.stats.__dict__),
                         bad_worker_records=cluster.bad_records)
