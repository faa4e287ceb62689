"""Scale run: 500 simulated robots (1 Hz) + 10,000 sensors (every 30 s) against `parkpatrol serve`.

Everything real: a private Mosquitto, the service as its own process (SQLite store), the simulator's
scale mode as a third process. Reports messages published vs received by the service (loss), the
service's memory over time (growth after warm-up) and whether the console's live socket still
delivers a snapshot and deltas at the end.

    python benchmarks/scale/run_scale.py --duration 600 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from patrol.auth import AuthService
from patrol.broker import MosquittoProcess, free_port, wait_port
from patrol.fleet.registry import RobotKind, RobotRegistry
from patrol.roles import Role
from patrol.store.db import Store

ROBOTS = 500
SENSORS = 10_000
MANUFACTURER = "parkpatrol-sim"


async def prepare(db_url: str, secret: str) -> tuple[str, str]:
    store = Store(db_url)
    await store.migrate()
    registry = RobotRegistry(store.sessions)
    await registry.load()
    for i in range(ROBOTS):
        await registry.add(MANUFACTURER, f"scale-{i:04d}", RobotKind.PATROL_DOG)
    auth = AuthService(store.sessions, secret)
    password = secrets.token_urlsafe(16)
    await auth.add_user("scale-viewer", password, Role.VIEWER)
    await store.close()
    return "scale-viewer", password


async def console_live(port: int, token: str) -> dict[str, Any]:
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/live?token={token}", max_size=None) as ws:
        t0 = time.perf_counter()
        snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
        delta = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return {"snapshot_robots": len(snap.get("robots", [])), "delta_after_s": round(time.perf_counter() - t0, 2),
                "delta_robots": len(delta.get("changes", {}).get("robots", {}))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pp-scale-"))
    broker = MosquittoProcess(data_dir=tmp / "broker")
    broker.start()
    secret = secrets.token_hex(32)
    db_url = f"sqlite+aiosqlite:///{tmp / 'svc' / 'parkpatrol.db'}"
    user, password = asyncio.run(prepare(db_url, secret))
    port = free_port()
    cfg = tmp / "parkpatrol.toml"
    cfg.write_text(f'data_dir = "{tmp / "svc"}"\nlog_level = "WARNING"\n[broker]\nurl = "mqtt://127.0.0.1:{broker.port}"\n'
                   f'[http]\nport = {port}\n[vision]\nenabled = false\n', encoding="utf-8")
    env = {**os.environ, "PARKPATROL_AUTH__SECRET_KEY": secret, "PARKPATROL_CONFIG": str(cfg)}
    serve = subprocess.Popen([sys.executable, "-m", "patrol.cli", "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(tmp / "serve.log", "w"))  # noqa: SIM115
    sim = None
    samples: list[dict[str, Any]] = []
    try:
        if not wait_port("127.0.0.1", port, 60):
            raise SystemExit(f"service did not start; see {tmp / 'serve.log'}")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        token = client.post("/api/auth/login", json={"username": user, "password": password}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        base = client.get("/api/metrics", headers=headers).json()["bus"]["received"]
        proc = psutil.Process(serve.pid)
        sim = subprocess.Popen([sys.executable, "-m", "patrol.cli", "sim", "--broker", f"mqtt://127.0.0.1:{broker.port}",
                                "--robots", str(ROBOTS), "--sensors", str(SENSORS), "--duration", str(args.duration),
                                "--json"], stdout=subprocess.PIPE, stderr=open(tmp / "sim.log", "w"))  # noqa: SIM115
        t0 = time.monotonic()
        while sim.poll() is None:
            time.sleep(30)
            m = client.get("/api/metrics", headers=headers).json()
            samples.append({"t": round(time.monotonic() - t0), "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                            "received": m["bus"]["received"] - base, "dropped": m["bus"]["dropped_overflow"],
                            "fleet_accepted": m["fleet"]["accepted"], "online": m["fleet"]["online"]})
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        out, _ = sim.communicate()
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
        sim_figures = json.loads(lines[-1]) if lines else {}
        time.sleep(3)  # let the service drain
        m = client.get("/api/metrics", headers=headers).json()
        received = m["bus"]["received"] - base
        live = asyncio.run(console_live(port, token))
        warm = next((s for s in samples if s["t"] >= 60), samples[0] if samples else None)
        end_rss = round(proc.memory_info().rss / 2**20, 1)
        published = sum(int(sim_figures.get(k, 0)) for k in ("robot_messages", "sensor_messages", "trip_messages"))
        result = {
            "duration_s": args.duration, "robots": ROBOTS, "sensors": SENSORS,
            "published": published, "received_by_service": received, "lost": max(0, published - received),
            "note": "received also counts the robots' connection messages, so it may exceed published",
            "bus_dropped": m["bus"]["dropped_overflow"], "fleet_rejected": m["fleet"]["rejected"],
            "rss_after_warmup_mb": warm["rss_mb"] if warm else None, "rss_end_mb": end_rss,
            "memory_growth_pct": round(100 * (end_rss / warm["rss_mb"] - 1), 1) if warm else None,
            "console_live": live, "sim": sim_figures, "samples": samples,
        }
        print(json.dumps(result, indent=2) if args.json else json.dumps({k: v for k, v in result.items()
                                                                            if k != "samples"}, indent=2))
        return 0
    finally:
        if sim is not None and sim.poll() is None:
            sim.kill()
        serve.terminate()
        serve.wait(20)
        broker.stop()


if __name__ == "__main__":
    raise SystemExit(main())
