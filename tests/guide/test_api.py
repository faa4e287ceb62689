"""The guide's HTTP API in a minimal app: kiosk routes, limits, escort flow, statistics for supervisors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from maps import Park
from patrol.auth import AuthService
from patrol.guide.api import router
from patrol.guide.knowledge import KnowledgeBase
from patrol.guide.service import MAX_TEXT, GuideService, GuideSettings
from patrol.roles import Role
from patrol.store.base import Base
from robots.clock import SimClock
from tests.guide.conftest import FakeEscortExecutor, run_sim
from tests.support import WithLifespanState

STATIC = Path(__file__).resolve().parents[2] / "patrol" / "guide" / "static"


@dataclass
class Kiosk:
    client: httpx.AsyncClient
    guide: GuideService
    clock: SimClock
    executor: FakeEscortExecutor
    auth: AuthService


@pytest.fixture
async def kiosk(tmp_path: Path, kb: KnowledgeBase, park: Park) -> AsyncIterator[Kiosk]:
    db = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    async with db.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    auth = AuthService(async_sessionmaker(db, expire_on_commit=False), "k" * 40)
    clock = SimClock(start=1_764_309_600.0)  # 2025-11-28 14:00 in the park (a Friday)
    executor = FakeEscortExecutor(clock)
    guide = GuideService(kb, park, clock, executor=executor, robots=("guide1",),
                         settings=GuideSettings(per_minute=6, burst=8))
    app = FastAPI()
    app.include_router(router)
    transport = httpx.ASGITransport(app=WithLifespanState(app, {"guide": guide, "auth": auth}))
    runner = asyncio.create_task(guide.run())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://kiosk") as client:
            yield Kiosk(client, guide, clock, executor, auth)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await db.dispose()


async def test_ask_returns_answer_places_confidence_and_route(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/guide/ask", json={"text": "餐厅怎么走？"})
    assert r.status_code == 200
    body = r.json()
    assert body["lang"] == "zh" and body["intent"] == "directions" and body["confidence"] >= 0.5
    assert body["pois"][0]["id"] == "canteen" and body["pois"][0]["name"] == "员工食堂"
    route = body["route"]
    assert route["origin"] == "kiosk" and route["destination"] == "canteen"
    assert route["metres"] > 100 and route["walking_minutes"] >= 1
    assert len(route["polyline"]) == len(route["latlon"]) >= 2
    assert body["escort_available"] is True and body["hotline"] == kiosk.guide.kb.hotline.number


async def test_ask_from_a_given_place_and_in_a_given_language(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/guide/ask", json={"text": "clinic", "lang": "zh", "from": "gate_south"})
    body = r.json()
    assert r.status_code == 200 and body["lang"] == "zh" and body["route"]["origin"] == "gate_south"


async def test_unknown_questions_get_the_hotline_and_no_place(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/guide/ask", json={"text": "where can I buy train tickets to Chengdu"})
    body = r.json()
    assert body["intent"] == "unknown" and body["pois"] == [] and body["route"] is None
    assert kiosk.guide.kb.hotline.number in body["answer"] and body["escort_available"] is False


async def test_limits_name_the_field(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/guide/ask", json={"text": "x" * (MAX_TEXT + 1)})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
    r = await kiosk.client.post("/api/guide/ask", json={"text": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
    r = await kiosk.client.post("/api/guide/ask", json={"text": "canteen", "from": "the moon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "from"]
    r = await kiosk.client.post("/api/guide/ask", json={"text": "canteen", "lang": "fr"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "lang"]
    r = await kiosk.client.post("/api/guide/ask", json={"text": "canteen", "name": "Li Lei"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


async def test_rate_limit_per_client_with_retry_after(kiosk: Kiosk) -> None:
    for _ in range(8):  # the burst
        assert (await kiosk.client.post("/api/guide/ask", json={"text": "canteen"})).status_code == 200
    r = await kiosk.client.post("/api/guide/ask", json={"text": "canteen"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) == 10  # 6 per minute
    await kiosk.clock.advance(10)
    assert (await kiosk.client.post("/api/guide/ask", json={"text": "canteen"})).status_code == 200
    assert kiosk.guide.stats.rejected == 1


async def test_question_on_the_kiosk_leads_to_an_escort_the_robot_completes(kiosk: Kiosk) -> None:
    asked = (await kiosk.client.post("/api/guide/ask", json={"text": "take me to the clinic"})).json()
    assert asked["intent"] == "take_me" and asked["escort_available"]
    r = await kiosk.client.post("/api/guide/escort", json={"poi": asked["pois"][0]["id"], "lang": "en"})
    assert r.status_code == 201
    escort = r.json()
    assert escort["state"] == "queued" and escort["position"] == 1 and escort["eta_s"] is not None
    second = (await kiosk.client.post("/api/guide/escort", json={"poi": "canteen", "from": "gate_north"})).json()
    await run_sim(kiosk.clock, 1)
    mine = (await kiosk.client.get(f"/api/guide/escort/{escort['id']}")).json()
    assert mine["state"] in {"greeting", "leading"} and mine["robot_id"] == "guide1"
    waiting = (await kiosk.client.get(f"/api/guide/escort/{second['id']}")).json()
    assert waiting["position"] == 1 and waiting["eta_s"] > 0
    await run_sim(kiosk.clock, 3600)
    done = (await kiosk.client.get(f"/api/guide/escort/{escort['id']}")).json()
    assert done["state"] == "done" and done["error"] is None
    speeches = [d for _, kind, d in kiosk.executor.steps if kind == "speak"]
    assert speeches[0].startswith("en:Hello") and "Clinic" in speeches[1]
    assert (await kiosk.client.get(f"/api/guide/escort/{second['id']}")).json()["state"] == "done"


async def test_visitor_cancels_an_escort(kiosk: Kiosk) -> None:
    first = (await kiosk.client.post("/api/guide/escort", json={"poi": "canteen", "from": "gate_south"})).json()
    second = (await kiosk.client.post("/api/guide/escort", json={"poi": "clinic"})).json()
    r = await kiosk.client.delete(f"/api/guide/escort/{second['id']}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    await run_sim(kiosk.clock, 5)
    r = await kiosk.client.delete(f"/api/guide/escort/{first['id']}")
    assert r.status_code == 200
    await run_sim(kiosk.clock, 1)
    assert (await kiosk.client.get(f"/api/guide/escort/{first['id']}")).json()["state"] == "cancelled"
    assert (await kiosk.client.get("/api/guide/escort/nope")).status_code == 404
    assert (await kiosk.client.delete("/api/guide/escort/nope")).status_code == 404


async def test_escort_errors(kiosk: Kiosk) -> None:
    r = await kiosk.client.post("/api/guide/escort", json={"poi": "substation"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "poi"]
    r = await kiosk.client.post("/api/guide/escort", json={"poi": "canteen", "from": "atlantis"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "from"]


async def test_stats_are_aggregate_and_for_supervisors_only(kiosk: Kiosk) -> None:
    for text in ["食堂在哪里", "where is the canteen", "is there a swimming pool"]:
        await kiosk.client.post("/api/guide/ask", json={"text": text})
    assert (await kiosk.client.get("/api/guide/stats")).status_code == 401
    operator = await kiosk.auth.add_user("op", "operator-pass-1", Role.OPERATOR)
    boss = await kiosk.auth.add_user("boss", "supervisor-pass-1", Role.SUPERVISOR)
    op_token = await kiosk.auth.issue_token(operator)
    r = await kiosk.client.get("/api/guide/stats", headers={"Authorization": f"Bearer {op_token}"})
    assert r.status_code == 403
    r = await kiosk.client.get("/api/guide/escorts", headers={"Authorization": f"Bearer {op_token}"})
    assert r.status_code == 200 and r.json()["robots"] == {"guide1": None}
    token = await kiosk.auth.issue_token(boss)
    stats = (await kiosk.client.get("/api/guide/stats", headers={"Authorization": f"Bearer {token}"})).json()
    assert stats["questions"] == 3 and stats["unknown"] == 1 and stats["top_pois"] == {"canteen": 2}
    assert stats["by_lang"] == {"en": 2, "zh": 1} and stats["by_channel"] == {"kiosk": 3}
    assert "swimming" not in str(stats) and "食堂在哪里" not in str(stats), "no raw question text is kept"


async def test_kiosk_page_and_assets_are_served_without_external_urls(kiosk: Kiosk) -> None:
    page = await kiosk.client.get("/guide")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in re.findall(r'(?:src|href)="(/guide/[^"]+)"', page.text):
        r = await kiosk.client.get(asset)
        assert r.status_code == 200, asset
    assert (await kiosk.client.get("/guide/secrets.txt")).status_code == 404
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
    data = (await kiosk.client.get("/api/guide/map")).json()
    assert data["home"] == "kiosk" and len(data["paths"]) > 10 and len(data["pois"]) == 24
