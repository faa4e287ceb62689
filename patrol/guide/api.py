"""HTTP API of the guide: the visitor kiosk (public, rate-limited) and statistics for the park office.

    POST   /api/guide/ask            {"text", "lang"?, "from"?} -> answer, places, confidence, route
    POST   /api/guide/escort         {"poi", "from"?, "lang"?}  -> escort id, queue position, ETA
    GET    /api/guide/escort/{id}                               -> its state
    DELETE /api/guide/escort/{id}                               -> cancelled by the visitor
    GET    /api/guide/map                                       -> paths and places to draw the kiosk map
    GET    /api/guide/escorts        (operator)                 -> every remembered mission
    GET    /api/guide/stats          (supervisor)               -> aggregate question statistics
    GET    /guide, /guide/{guide.js,guide.css}                  -> the kiosk page (static, no CDN)

Handlers translate; `GuideService` decides.
"""

from __future__ import annotations

import math
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from patrol.api.deps import ClientAddr, OperatorUser, SupervisorUser, state_item
from patrol.guide.engine import Answer
from patrol.guide.escort import EscortError, EscortView, QueueFullError
from patrol.guide.knowledge import Lang
from patrol.guide.routes import GuideRoute, PlaceError
from patrol.guide.service import MAX_PLACE, MAX_TEXT, EscortUnavailable, GuideService
from patrol.guide.stats import RateLimiter

router = APIRouter(tags=["guide"])
# the kiosk page and its assets (the app may also mount patrol/guide/static at /guide: same files)
STATIC_FILES = {"index.html": "text/html", "guide.js": "text/javascript", "guide.css": "text/css"}
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Place = Annotated[str, Field(min_length=1, max_length=MAX_PLACE)]
EscortId = Annotated[str, Path(min_length=1, max_length=64)]


def get_guide(request: Request) -> GuideService:
    svc: GuideService = state_item(request, "guide", GuideService)
    return svc


Guide = Annotated[GuideService, Depends(get_guide)]


def _field_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the body field."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _limit(limiter: RateLimiter, guide: GuideService, client: str) -> None:
    wait = limiter.check(client)
    if wait is not None:
        guide.stats.record_rejected()
        retry = max(1, math.ceil(wait))
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many requests; try again in {retry} s",
                            headers={"Retry-After": str(retry)})


async def rate_limited(guide: Guide, client: ClientAddr) -> None:
    _limit(guide.limiter, guide, client)


async def poll_limited(guide: Guide, client: ClientAddr) -> None:
    _limit(guide.poll_limiter, guide, client)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AskRequest(_In):
    text: Text
    lang: Lang | None = None
    origin: Place | None = Field(default=None, alias="from", description="POI, waypoint id or 'lat,lon'")


class PoiPublic(BaseModel):
    id: str
    name: str
    category: str
    lat: float
    lon: float
    x: float
    y: float


class RoutePublic(BaseModel):
    origin: str
    destination: str
    waypoints: list[str]
    polyline: list[list[float]]
    latlon: list[list[float]]
    metres: float
    walking_s: float
    walking_minutes: int


class AskResponse(BaseModel):
    answer: str
    lang: Lang
    intent: str
    confidence: float
    pois: list[PoiPublic]
    faq: str | None
    route: RoutePublic | None
    escort_available: bool
    hotline: str


class EscortRequest(_In):
    poi: Place
    origin: Place | None = Field(default=None, alias="from", description="where the visitor waits")
    lang: Lang = "zh"


class EscortPublic(BaseModel):
    id: str
    poi: str
    origin: str
    state: str
    position: int
    eta_s: float | None
    robot_id: str | None
    metres: float
    error: str | None


def _poi(guide: GuideService, poi_id: str, lang: Lang) -> PoiPublic | None:
    poi = guide.park.pois.get(poi_id)
    if poi is None:
        return None
    lat, lon = guide.park.to_wgs84(poi.x, poi.y)
    return PoiPublic(id=poi.id, name=guide.engine.name(poi.id, lang), category=poi.category, lat=round(lat, 7),
                     lon=round(lon, 7), x=round(poi.x, 2), y=round(poi.y, 2))


def _route(route: GuideRoute | None) -> RoutePublic | None:
    return None if route is None else RoutePublic.model_validate(route.to_json())


def _answer(guide: GuideService, answer: Answer) -> AskResponse:
    pois = [p for p in (_poi(guide, pid, answer.lang) for pid in answer.pois) if p is not None]
    first = guide.kb.pois.get(answer.pois[0]) if answer.pois and answer.known else None
    return AskResponse(
        answer=answer.text, lang=answer.lang, intent=answer.intent.value, confidence=answer.confidence,
        pois=pois, faq=answer.faq, route=_route(answer.route),
        escort_available=bool(guide.escorts is not None and first is not None and first.escort
                              and answer.faq is None),
        hotline=guide.kb.hotline.number,
    )


def _escort(view: EscortView) -> EscortPublic:
    return EscortPublic(id=view.id, poi=view.poi, origin=view.origin, state=view.state.value,
                        position=view.position, eta_s=view.eta_s, robot_id=view.robot_id, metres=view.metres,
                        error=view.error)


@router.post("/api/guide/ask", dependencies=[Depends(rate_limited)])
async def ask(body: AskRequest, guide: Guide) -> AskResponse:
    try:
        answer = guide.ask(body.text, body.lang, body.origin)
    except PlaceError as e:
        raise _field_error("from", str(e)) from None
    return _answer(guide, answer)


@router.post("/api/guide/escort", status_code=status.HTTP_201_CREATED, dependencies=[Depends(rate_limited)],
             responses={503: {"description": "no guide robot is available, or the escort queue is full"}})
async def request_escort(body: EscortRequest, guide: Guide) -> EscortPublic:
    try:
        view = guide.request_escort(body.poi, body.origin, body.lang)
    except EscortUnavailable as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e)) from None
    except QueueFullError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e), headers={"Retry-After": "60"}) from None
    except EscortError as e:
        field, _, message = str(e).partition(": ")
        if field not in {"poi", "from"}:
            field, message = "poi", str(e)
        raise _field_error(field, message) from None
    return _escort(view)


@router.get("/api/guide/escort/{escort_id}", dependencies=[Depends(poll_limited)])
async def get_escort(escort_id: EscortId, guide: Guide) -> EscortPublic:
    try:
        return _escort(guide.escort(escort_id))
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no escort {escort_id!r}") from None


@router.delete("/api/guide/escort/{escort_id}", dependencies=[Depends(rate_limited)])
async def cancel_escort(escort_id: EscortId, guide: Guide) -> EscortPublic:
    try:
        return _escort(guide.cancel_escort(escort_id))
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no escort {escort_id!r}") from None


@router.get("/api/guide/escorts")
async def list_escorts(guide: Guide, user: OperatorUser) -> dict[str, Any]:
    del user
    if guide.escorts is None:
        return {"robots": {}, "waiting": 0, "escorts": []}
    return {"robots": guide.escorts.robot_states(), "waiting": guide.escorts.waiting,
            "escorts": [_escort(v).model_dump() for v in guide.escorts.views()]}


@router.get("/api/guide/stats")
async def stats(guide: Guide, user: SupervisorUser) -> dict[str, Any]:
    del user
    snapshot = guide.stats.snapshot()
    if guide.escorts is not None:
        snapshot["escorts"] = {"completed": guide.escorts.completed, "cancelled": guide.escorts.cancelled,
                               "failed": guide.escorts.failed, "waiting": guide.escorts.waiting}
    return snapshot


@router.get("/api/guide/map", dependencies=[Depends(poll_limited)])
async def guide_map(guide: Guide) -> dict[str, Any]:
    park = guide.park
    return {
        "name": {"zh": guide.kb.park.name.zh, "en": guide.kb.park.name.en},
        "home": guide.kb.park.home_poi,
        "boundary": [[round(x, 1), round(y, 1)] for x, y in park.boundary],
        "paths": [[[round(x, 1), round(y, 1)] for x, y in p.polyline] for p in park.paths.values()],
        "pois": [{"id": p.id, "zh": guide.engine.name(p.id, "zh"), "en": guide.engine.name(p.id, "en"),
                  "x": round(p.x, 1), "y": round(p.y, 1)} for p in park.pois.values()],
        "hotline": guide.kb.hotline.number,
    }


def _static(name: str) -> str:
    return files("patrol.guide").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/guide", response_class=HTMLResponse, include_in_schema=False)
async def kiosk_page() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/guide/{name}", include_in_schema=False)
async def kiosk_asset(name: str) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no kiosk asset {name!r}")
    return Response(_static(name), media_type=media, headers={"Cache-Control": "no-cache"})

