"""Alarms in flight through a broker restart, end to end: smoke and water-leak trips from
Zigbee2MQTT devices, mixed into a stream of ordinary readings (QoS 1), are published while the
broker is stopped and started. Every trip becomes exactly one active alarm: none lost (QoS 1 to
the service's persistent session), none doubled (QoS 1 redeliveries are absorbed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from patrol.broker import MosquittoProcess, mosquitto_binary
from patrol.roles import Role
from tests.reliability.helpers import close_client, paho_client
from tests.support import running_service, service_settings

pytestmark = pytest.mark.reliability
FILLER = 1500  # ordinary readings in flight around the trips


async def test_alarms_survive_a_broker_restart_once_each(tmp_path: Path, database_url: str) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    mosquitto = MosquittoProcess(data_dir=tmp_path / "broker")
    endpoint = mosquitto.start()
    try:
        settings = service_settings(tmp_path / "svc", endpoint, database_url, vision={"enabled": False})
        async with running_service(settings) as svc:
            rt = svc.runtime
            assert await rt.bus.wait_connected(10)
            viewer = await svc.login_as(Role.VIEWER)
            sensors = rt.park.sensors.values()
            trips = {s.id: ("smoke" if s.kind == "smoke" else "water_leak") for s in sensors
                     if s.kind in ("smoke", "water")}
            quiet = [s.id for s in sensors if s.kind in ("door", "fence", "pir")]
            assert trips and quiet
            pub = paho_client(endpoint, "reliability-z2m-bridge", clean=False)
            try:
                half = len(trips) // 2
                items = list(trips.items())
                for i in range(FILLER):
                    reading = orjson.dumps({"battery": 90, "linkquality": i % 255})
                    pub.publish(f"zigbee2mqtt/{quiet[i % len(quiet)]}", reading, qos=1)
                    if i == FILLER // 3:
                        for sid, field in items[:half]:
                            pub.publish(f"zigbee2mqtt/{sid}", orjson.dumps({field: True, "battery": 80}), qos=1)
                        await asyncio.to_thread(mosquitto.stop)
                    if i == FILLER // 2:
                        for sid, field in items[half:]:  # queued in the bridge while the broker is down
                            pub.publish(f"zigbee2mqtt/{sid}", orjson.dumps({field: True, "battery": 80}), qos=1)
                        await asyncio.to_thread(mosquitto.start)
                    if i % 100 == 0:
                        await asyncio.sleep(0.01)
                assert await rt.bus.wait_connected(40)
                ingest = rt.extras["sensors"].counters
                total = FILLER + len(trips)
                for _ in range(300):
                    if ingest.messages >= total:
                        break
                    await asyncio.sleep(0.1)
                assert ingest.messages >= total, f"only {ingest.messages} of {total} sensor messages arrived"
                active: list[dict[str, Any]] = []
                for _ in range(150):
                    r = await svc.client.get("/api/alarms", params={"limit": 1000}, headers=viewer)
                    active = [a for a in r.json() if a["source"] in {f"sensor:{s}" for s in trips}]
                    if len({a["source"] for a in active}) == len(trips):
                        break
                    await asyncio.sleep(0.1)
            finally:
                close_client(pub)
            by_source: dict[str, int] = {}
            for a in active:
                by_source[a["source"]] = by_source.get(a["source"], 0) + 1
            assert set(by_source) == {f"sensor:{s}" for s in trips}, "an alarm was lost"
            assert all(n == 1 for n in by_source.values()), f"an alarm was doubled: {by_source}"
            print(f"\nbroker restart with {FILLER + len(trips)} QoS 1 sensor messages in flight: "
                  f"{len(trips)} alarms, lost 0, doubled 0; ingest took {ingest.messages} messages "
                  f"({ingest.messages - total} redeliveries)")
    finally:
        mosquitto.stop()
