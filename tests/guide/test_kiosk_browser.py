"""The kiosk page in headless Chromium against the guide router under uvicorn: ask, see the route, escort."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from maps import Park
from patrol.guide.api import router
from patrol.guide.knowledge import KnowledgeBase
from patrol.guide.service import GuideService
from robots.clock import WallClock
from tests.conftest import need
from tests.guide.conftest import FakeEscortExecutor

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROUTE_RGB = (226, 84, 27)


def _app(kb: KnowledgeBase, park: Park) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        clock = WallClock()
        guide = GuideService(kb, park, clock, executor=FakeEscortExecutor(clock), robots=("guide1",))
        task = asyncio.create_task(guide.run())
        try:
            yield {"guide": guide}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


@pytest.fixture
def kiosk_url(kb: KnowledgeBase, park: Park) -> Iterator[str]:
    need(CHROMIUM.exists(), "Chromium is not installed (apt-get install chromium)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app(kb, park), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kiosk-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "kiosk server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def _route_pixels(page: Any) -> int:
    count: int = page.evaluate(
        """([r, g, b]) => {
            const c = document.getElementById('map');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
            return n;
        }""", list(ROUTE_RGB))
    return count


def test_visitor_asks_sees_the_route_and_calls_the_robot(kiosk_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(kiosk_url + "/guide")
            page.wait_for_function("document.getElementById('hotline').textContent.length > 0")
            assert _route_pixels(page) == 0
            box = page.locator("#ask").bounding_box()
            assert box is not None and box["height"] >= 60, "touch targets are large"

            page.fill("#question", "食堂怎么走")
            page.click("#ask")
            page.wait_for_selector("#answer-box:not([hidden])")
            assert "员工食堂" in page.inner_text("#answer")
            assert "米" in page.inner_text("#route-summary")
            assert _route_pixels(page) > 50, "the walking route is drawn on the map"

            page.click("#lang-en")
            assert page.inner_text("#ask") == "Ask"
            page.locator("#quick button").first.click()  # "Where is the canteen?"
            page.wait_for_function("document.getElementById('answer').textContent.includes('Staff Canteen')")

            page.click("#escort")
            page.wait_for_selector("#escort-box:not([hidden])")
            page.wait_for_function("/robot|queue/.test(document.getElementById('escort-status').textContent)")
            page.click("#escort-cancel")
            page.wait_for_function("document.getElementById('escort-status').textContent.includes('cancelled')")

            page.fill("#question", "where can I buy train tickets")
            page.click("#ask")
            page.wait_for_function("document.getElementById('answer').textContent.includes('hotline')")
            assert page.locator("#escort").is_hidden()
            assert not errors, f"kiosk script errors: {errors}"
        finally:
            browser.close()
