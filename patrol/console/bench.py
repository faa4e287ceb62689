"""`parkpatrol bench console`: script time per live update in headless Chromium at scale.

The console's own scripts and Leaflet are served with the sample park; the page gets a snapshot of
`robots` robots and `sensors` sensors, then deltas at 2 Hz in which every robot moves and
`sensor_changes` sensors report. Two figures per update: the time of the message handler itself
(JSON.parse + apply, measured with performance.now) and Chromium's own ScriptDuration (all script,
including Leaflet's deferred canvas redraws) divided by the number of updates.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from maps import Park, load_park, sample_park_path

STATIC = Path(__file__).with_name("static")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGET_MS = 50.0


class ScaleFeed:
    """Synthetic snapshot and deltas: robots walking between waypoints, sensors flipping state."""

    def __init__(self, park: Park, robots: int, sensors: int, seed: int = 7) -> None:
        self.park = park
        self.rng = random.Random(seed)
        self.wps = list(park.waypoints.values())
        xs = [w.x for w in self.wps]
        ys = [w.y for w in self.wps]
        self.box = (min(xs), min(ys), max(xs), max(ys))
        self.robots: list[dict[str, Any]] = []
        for i in range(robots):
            w = self.rng.choice(self.wps)
            self.robots.append({"robot_id": f"dog-{i:04d}", "manufacturer": "acme", "serial_number": f"dog-{i:04d}",
                                "kind": "patrol_dog", "online": True, "connection": "ONLINE", "x": w.x, "y": w.y,
                                "theta": 0.0, "battery": 90.0, "charging": False, "driving": True, "paused": False,
                                "e_stop": "NONE", "order_id": f"ord-{i}", "last_node_id": w.id,
                                "node_ids_ahead": [self.rng.choice(self.wps).id for _ in range(3)], "errors": []})
        self.sensors = {f"s{i:05d}": self._sensor_position() for i in range(sensors)}
        self.t = time.time()

    def _sensor_position(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return self.park.to_wgs84(self.rng.uniform(x0, x1), self.rng.uniform(y0, y1))

    def _robot_view(self, r: dict[str, Any]) -> dict[str, Any]:
        lat, lon = self.park.to_wgs84(r["x"], r["y"])
        return {**r, "lat": lat, "lon": lon}

    def snapshot(self) -> bytes:
        sensors = {sid: {"kind": "door", "lat": lat, "lon": lon, "contact": True, "battery": 80}
                   for sid, (lat, lon) in self.sensors.items()}
        return orjson.dumps({"type": "snapshot", "t": self.t, "robots": [self._robot_view(r) for r in self.robots],
                             "sensors": sensors, "alarms": []})

    def delta(self, sensor_changes: int) -> bytes:
        self.t += 0.5
        robots = {}
        for r in self.robots:
            r["theta"] = (r["theta"] + self.rng.uniform(-0.3, 0.3)) % (2 * math.pi)
            r["x"] += math.cos(r["theta"]) * 0.6
            r["y"] += math.sin(r["theta"]) * 0.6
            r["battery"] = max(5.0, r["battery"] - 0.01)
            if self.rng.random() < 0.05:
                r["node_ids_ahead"] = [self.rng.choice(self.wps).id for _ in range(3)]
            robots[r["robot_id"]] = self._robot_view(r)
        ids = self.rng.sample(list(self.sensors), min(sensor_changes, len(self.sensors)))
        sensors = {sid: {"contact": self.rng.random() > 0.02, "battery": 80} for sid in ids}
        return orjson.dumps({"type": "delta", "t": self.t, "changes": {"robots": robots, "sensors": sensors},
                             "events": []})


def bench_page() -> str:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return html.replace("<head>", '<head>\n<base href="/console/">\n<script>window.ppBench = true;</script>', 1)


@contextmanager
def serve_console(park: Park) -> Iterator[str]:
    """The console's static files, Leaflet and the park on a free local port (no service behind)."""
    import uvicorn
    import xstatic.pkg.leaflet as leaflet
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    page = bench_page()
    gj = park.geojson()

    async def bench(_: Any) -> HTMLResponse:
        return HTMLResponse(page)

    async def park_json(_: Any) -> JSONResponse:
        return JSONResponse(gj)

    app = Starlette(routes=[Route("/bench.html", bench), Route("/api/park", park_json),
                            Mount("/console", StaticFiles(directory=STATIC)),
                            Mount("/vendor/leaflet", StaticFiles(directory=leaflet.BASE_DIR))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("bench console server failed to start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


RUN_JS = """async ({periodMs}) => {
  const times = [];
  for (const text of window.ppMsgs) {
    const due = performance.now() + periodMs;
    const t0 = performance.now();
    ppApply(JSON.parse(text));
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)));
  return times;
}"""


def run_bench(robots: int = 500, sensors: int = 10_000, sensor_changes: int = 5_000, updates: int = 20,
              chromium: str = "/usr/bin/chromium", hz: float = 2.0) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    park = load_park(sample_park_path())
    feed = ScaleFeed(park, robots, sensors)
    snapshot = feed.snapshot().decode()
    msgs = [feed.delta(sensor_changes).decode() for _ in range(updates)]
    lat0, lon0 = park.to_wgs84(0.0, 0.0)
    lat1, lon1 = park.to_wgs84(100.0, 0.0)
    lat2, lon2 = park.to_wgs84(0.0, 100.0)
    frame = {"lat0": lat0, "lon0": lon0, "lat_x": (lat1 - lat0) / 100, "lat_y": (lat2 - lat0) / 100,
             "lon_x": (lon1 - lon0) / 100, "lon_y": (lon2 - lon0) / 100}
    with serve_console(park) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/bench.html")
            page.evaluate("""async (frame) => { PP.frame = frame; S.me = {username: 'bench', role: 'operator'};
                initMap(await (await fetch('/api/park')).json()); }""", frame)
            t0 = time.perf_counter()
            page.evaluate("(text) => ppApply(JSON.parse(text))", snapshot)
            snapshot_ms = (time.perf_counter() - t0) * 1000
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 200)))")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.evaluate("(msgs) => { window.ppMsgs = msgs; }", msgs)  # the transfer is not measured
            before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            times: list[float] = page.evaluate(RUN_JS, {"periodMs": 1000.0 / hz})
            after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            markers = page.evaluate("() => [PP.robotMarkers.size + PP.robotShapes.size, PP.sensors.size]")
            if errors:
                raise RuntimeError(f"console script errors during the benchmark: {errors[:3]}")
        finally:
            browser.close()
    script_ms = (after["ScriptDuration"] - before["ScriptDuration"]) * 1000 / updates
    task_ms = (after["TaskDuration"] - before["TaskDuration"]) * 1000 / updates
    times_sorted = sorted(times)
    return {
        "robots": robots, "sensors": sensors, "sensor_changes_per_update": sensor_changes, "updates": updates,
        "rate_hz": hz, "delta_bytes_mean": int(statistics.mean(len(m) for m in msgs)),
        "handler_ms_p50": round(statistics.median(times), 2),
        "handler_ms_p95": round(times_sorted[max(0, math.ceil(0.95 * len(times)) - 1)], 2),
        "handler_ms_max": round(max(times), 2),
        "script_ms_per_update": round(script_ms, 2), "main_thread_ms_per_update": round(task_ms, 2),
        "snapshot_apply_ms": round(snapshot_ms, 1), "robot_markers": markers[0], "sensor_markers": markers[1],
        "target_ms": TARGET_MS, "meets_target": script_ms < TARGET_MS,
    }


def _cmd(args: argparse.Namespace) -> int:
    result = run_bench(args.robots, args.sensors, args.sensor_changes, args.updates, args.chromium)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28s} {v}")
    return 0 if result["meets_target"] else 1


def add_bench_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("console", help="console script time per live update in headless Chromium at scale")
    p.add_argument("--robots", type=int, default=500)
    p.add_argument("--sensors", type=int, default=10_000)
    p.add_argument("--sensor-changes", type=int, default=5_000, help="sensors reporting in each 0.5 s update")
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd)
