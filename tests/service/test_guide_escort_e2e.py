"""A visitor's question on the kiosk API becomes an escort the simulated guide robot completes over VDA 5050."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from maps import load_park, sample_park_path
from patrol.broker import BrokerEndpoint
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import RobotSpec, Simulation
from tests.support import register_robots, running_service, service_settings


async def test_kiosk_question_to_completed_escort(tmp_path: Path, private_broker: BrokerEndpoint,
        database_url: str) -> None:
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", "guide-01", "guide")])
    clock = ScaledClock(speed=4.0)  # one clock for service and simulator: a 2-minute escort in ~30 s
    iface = f"t{secrets.token_hex(3)}"  # retained messages of other tests' robots stay out
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface})
    park = load_park(sample_park_path())
    async with running_service(settings, clock=clock) as svc, Simulation(
            park, BrokerSpec(broker.host, broker.port), clock=clock, robots=[RobotSpec("guide-01", "guide")],
            camera_port=None, state_interval=2.0, interface=iface) as sim:
        rt = svc.runtime
        for _ in range(200):
            live = rt.fleet.robots.get("guide-01")
            if live is not None and live.online and live.factsheet is not None and live.x is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the simulated guide robot never came online")
        answer = await svc.client.post("/api/guide/ask", json={"text": "Please take me to the north gate"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["pois"][0]["id"] == "gate_north"
        escort = await svc.client.post("/api/guide/escort", json={"poi": "gate_north", "from": "kiosk",
                                                                  "lang": "en"})
        assert escort.status_code == 201, escort.text
        escort_id = escort.json()["id"]
        flips: list[tuple[float, bool, str]] = []
        rt.fleet.listen(lambda ch: flips.append((clock.now(), ch.after.online, ch.after.connection))
                        if ch.before is None or ch.before.online != ch.after.online else None)
        states: list[str] = []
        for _ in range(240):
            r = await svc.client.get(f"/api/guide/escort/{escort_id}")
            assert r.status_code == 200, r.text
            view = r.json()
            if not states or states[-1] != view["state"]:
                states.append(view["state"])
            if view["state"] in ("done", "failed", "cancelled"):
                break
            await asyncio.sleep(0.25)
        assert states[-1] == "done", (states, view, flips)
        assert "leading" in states
        spoken = sim.events.of_kind("robot.speak")
        assert len(spoken) >= 2, "greeting and goodbye are said aloud"
        assert rt.fleet.rejected.total() == 0
