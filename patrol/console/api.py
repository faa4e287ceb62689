"""Console support routes: the park's metric frame for the browser, and the playback API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from patrol.api.deps import ViewerUser, state_item
from patrol.history import router as history_router
from patrol.runtime import Runtime

router = APIRouter()
router.include_router(history_router)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = state_item(request, "runtime", Runtime)
    return rt


class FramePublic(BaseModel):
    """Affine map from the park's metric frame (x east, y north, metres) to WGS84.

    lat = lat0 + x * lat_x + y * lat_y; lon = lon0 + x * lon_x + y * lon_y (exact enough for a park).
    """

    lat0: float
    lon0: float
    lat_x: float
    lat_y: float
    lon_x: float
    lon_y: float


@router.get("/api/console/frame", response_model=FramePublic,
            summary="Metric-to-WGS84 transform so the console can place alarms and goals given in metres")
async def frame(user: ViewerUser, rt: Annotated[Runtime, Depends(_runtime)]) -> FramePublic:
    lat0, lon0 = rt.park.to_wgs84(0.0, 0.0)
    lat1, lon1 = rt.park.to_wgs84(100.0, 0.0)
    lat2, lon2 = rt.park.to_wgs84(0.0, 100.0)
    return FramePublic(lat0=lat0, lon0=lon0, lat_x=(lat1 - lat0) / 100, lat_y=(lat2 - lat0) / 100,
                       lon_x=(lon1 - lon0) / 100, lon_y=(lon2 - lon0) / 100)


STREAM_KEYS = ("cameraStreamUrl", "streamUrl", "stream_url", "camera_url")


def robot_stream_url(factsheet: dict[str, Any] | None) -> str | None:
    """The MJPEG URL a robot declares in its factsheet (top level or one level down), if any."""
    if not factsheet:
        return None
    scopes: list[dict[str, Any]] = [factsheet, *(v for v in factsheet.values() if isinstance(v, dict))]
    for scope in scopes:
        for key in STREAM_KEYS:
            url = scope.get(key)
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return url
    return None


async def _proxy_mjpeg(url: str, what: str) -> StreamingResponse:
    """Relay an MJPEG stream through the service (same origin for the console, robots on a private net)."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=30.0))
    try:
        upstream = await client.send(client.build_request("GET", url), stream=True)
    except httpx.HTTPError as e:
        await client.aclose()
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: stream {url} unreachable: {e}") from e
    if upstream.status_code != 200:
        await upstream.aclose()
        await client.aclose()
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: stream {url} answered {upstream.status_code}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return
        finally:
            await upstream.aclose()
            await client.aclose()

    media = upstream.headers.get("content-type", "multipart/x-mixed-replace")
    return StreamingResponse(body(), media_type=media, headers={"Cache-Control": "no-store"})


@router.get("/api/console/robots/{robot_id}/camera", summary="Live MJPEG view of a robot that declares a stream",
            responses={404: {}, 502: {}})
async def robot_camera(robot_id: str, user: ViewerUser, rt: Annotated[Runtime, Depends(_runtime)]
                       ) -> StreamingResponse:
    live = rt.fleet.robots.get(robot_id)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"robot_id: no robot {robot_id!r}")
    declared = getattr(live, "camera_url", None)  # from the state's `cameraStream` information, where kept
    url = declared if isinstance(declared, str) and declared.startswith(("http://", "https://")) \
        else robot_stream_url(live.factsheet)
    if url is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"robot {robot_id!r} declares no camera stream (state information 'cameraStream' "
                            "or factsheet key cameraStreamUrl)")
    return await _proxy_mjpeg(url, f"robot {robot_id}")


@router.get("/api/console/cameras/{camera_id}/stream", summary="Live MJPEG view of a fixed park camera",
            responses={404: {}, 502: {}})
async def camera_stream(camera_id: str, user: ViewerUser, rt: Annotated[Runtime, Depends(_runtime)]
                        ) -> StreamingResponse:
    cam = rt.park.cameras.get(camera_id)
    url = getattr(cam, "stream_url", None) if cam is not None else None
    base = rt.settings.vision.camera_base_url
    if isinstance(url, str) and base:  # the map's host:port replaced, as the vision workers do
        url = re.sub(r"^[a-z]+://[^/]+", base.rstrip("/"), url)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera_id: no camera {camera_id!r} with an HTTP stream")
    return await _proxy_mjpeg(url, f"camera {camera_id}")
