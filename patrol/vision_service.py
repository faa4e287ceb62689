"""Vision inside `parkpatrol serve`: the park's fixed cameras through one `vision.VisionRuntime`.

Cameras, their image->ground mappings and the map zones they overlook come from the park map;
rules per camera: a person in a restricted / no-go / after-hours zone while the zone's schedule
is active, and a fallen person anywhere in view. Events go out on the broker like a separate
vision worker's would, so the alarms ingest treats both alike. Snapshots are served here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import shapely
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from maps import Camera, Park, Zone
from patrol.api.deps import ViewerUser, field_error, state_item
from vision.config import CameraSpec
from vision.geometry import Homography
from vision.rules import Rule
from vision.rules import Zone as VisionZone
from vision.runtime import VisionRuntime
from vision.snapshots import SnapshotError

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


def vision_subsystem() -> Subsystem:
    from patrol.app import Subsystem

    async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        vs = rt.settings.vision
        if not vs.enabled or not rt.park.cameras:
            return []
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
            return []
        rt.extras["vision"] = runtime

        def probe() -> tuple[bool, bool, str]:
            health = runtime.health()
            online = sum(1 for h in health.values() if h.state == "online")
            return online == len(health), False, f"{online} of {len(health)} cameras online"

        rt.extras["health_probes"] = {**rt.extras.get("health_probes", {}), "vision": probe}
        log.info("vision: %d cameras, detector %s", len(specs), runtime.detector)
        return [runtime.run]

    return Subsystem("vision", setup)


router = APIRouter(prefix="/api/vision", tags=["vision"])


@router.get("/events/{event_id}/snapshot.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
async def snapshot(request: Request, event_id: str, user: ViewerUser,
                   boxes: Annotated[bool, Query(description="draw the detection boxes")] = False) -> Response:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", event_id):
        raise field_error("path", "event_id", "1-128 of A-Z a-z 0-9 _ . : -")
    runtime: VisionRuntime = state_item(request, "vision", VisionRuntime)
    try:
        jpeg = await asyncio.to_thread(runtime.snapshot, event_id, boxes)
    except SnapshotError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event_id: no snapshot for {event_id}") from e
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
