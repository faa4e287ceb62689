"""Killing the broker makes health report it down; its return recovers without a service restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from patrol.broker import MosquittoProcess, mosquitto_binary
from tests.conftest import need
from tests.support import Service, running_service, service_settings


async def _health(svc: Service) -> tuple[int, dict[str, Any]]:
    r = await svc.client.get("/api/health")
    return r.status_code, r.json()


async def test_broker_loss_and_recovery(tmp_path: Path, database_url: str) -> None:
    need(mosquitto_binary() is not None, "mosquitto is not installed")
    broker = MosquittoProcess(data_dir=tmp_path / "broker")
    endpoint = broker.start()
    try:
        async with running_service(service_settings(tmp_path / "svc", endpoint, database_url)) as svc:
            assert await svc.runtime.bus.wait_connected(10)
            code, body = await _health(svc)
            assert code == 200, body
            broker.kill()
            for _ in range(100):
                code, body = await _health(svc)
                if code == 503:
                    break
                await asyncio.sleep(0.1)
            assert code == 503
            assert body["status"] == "down"
            assert body["components"]["broker"]["ok"] is False
            broker.start()  # same port, same persistence directory
            assert await svc.runtime.bus.wait_connected(40)
            code, body = await _health(svc)
            assert code == 200, body
            assert svc.runtime.bus.stats.connects >= 2
    finally:
        broker.stop()
