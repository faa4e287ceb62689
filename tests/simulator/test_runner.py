"""The Simulation orchestrator against a real Mosquitto: agents, orders, faults, determinism."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from maps import load_park, sample_park_path, test_park_path
from patrol.broker import BrokerEndpoint
from robots.clock import SimClock
from robots.vda5050.builders import Waypoint, build_order, make_action
from robots.vda5050.topics import RobotId
from simulator.mqtt import BrokerSpec
from simulator.runner import MANUFACTURER, RobotSpec, Simulation
from simulator.scenario import load_scenario, parse_scenario
from tests.simulator.watch import watching


async def advance_until(sim: Simulation, predicate: Any, limit_s: float, step: float = 0.5) -> None:
    start = sim.clock.now()
    while not predicate():
        if sim.clock.now() - start > limit_s:
            raise AssertionError(f"condition not met within {limit_s} simulated seconds")
        await sim.run_for(step)
        await asyncio.sleep(0.002)  # real time for broker round trips


async def test_sim_driver_completes_an_order_through_the_agent(broker: BrokerEndpoint, shared_dir: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared_dir / "specs/vda5050-2.1.0/state.schema").read_text())
    park = load_park(test_park_path())
    clock = SimClock(0.0)
    robot = RobotId(MANUFACTURER, "dog-01")
    async with watching(broker, f"uagv/v2/{MANUFACTURER}/dog-01/#") as (client, watch), \
            Simulation(park, BrokerSpec(broker.host, broker.port), clock=clock, robots=[RobotSpec("dog-01")],
                       state_interval=2.0) as sim:
        wps = [park.waypoints[w] for w in ("w1", "w2", "w3", "w7")]
        photo = make_action("capturePhoto", {"label": "test"}, action_id="photo-1")
        order = build_order(robot, "order-1", [
            Waypoint(w.id, w.x, w.y, park.id, actions=(photo,) if w.id == "w7" else ()) for w in wps
        ], timestamp=datetime.now(UTC))
        await client.publish(f"uagv/v2/{MANUFACTURER}/dog-01/order", order.to_json(), qos=0)

        def done() -> bool:
            states = watch.of("/state")
            return bool(states) and states[-1]["lastNodeId"] == "w7" and any(
                a["actionId"] == "photo-1" and a["actionStatus"] == "FINISHED" for a in states[-1]["actionStates"])
        await advance_until(sim, done, limit_s=3000.0)  # the photo renders in real time meanwhile
        final = watch.of("/state")[-1]
        assert abs(final["agvPosition"]["x"] - 40.0) < 0.6 and abs(final["agvPosition"]["y"] - 20.0) < 0.6
        assert final["batteryState"]["batteryCharge"] < 100.0
        for state in watch.of("/state"):
            jsonschema.validate(state, schema)
        # 60 m at 1.5 m/s: the robot took simulated time, not wall time
        arrived = [e.t for e in sim.events.of_kind("robot.arrive") if e.data.get("node") == "w7"]
        assert arrived and 40.0 < arrived[0] < 120.0
        photo_url = next(a["resultDescription"] for a in final["actionStates"] if a["actionId"] == "photo-1")
        async with httpx.AsyncClient(timeout=10.0) as http:
            resp = await http.get(photo_url)
            assert resp.status_code == 200 and resp.content[:2] == b"\xff\xd8"
            cam = await http.get(sim.camera_urls()["cam_test"].replace(".mjpg", ".jpg"))
            assert cam.status_code == 200 and cam.headers["content-type"] == "image/jpeg"
        kinds = [e.kind for e in sim.events if e.subject == "dog-01"]
        assert "robot.arrive" in kinds and "robot.photo" in kinds
        factsheet = watch.of("/factsheet")[-1]
        declared = {a["actionType"] for a in factsheet["protocolFeatures"]["agvActions"]}
        assert {"capturePhoto", "scanArea", "dock"} <= declared and "speak" not in declared


async def test_disconnect_fires_the_last_will_and_the_robot_comes_back(broker: BrokerEndpoint) -> None:
    park = load_park(test_park_path())
    clock = SimClock(0.0)
    async with watching(broker, f"uagv/v2/{MANUFACTURER}/dog-02/connection") as (_, watch), \
            Simulation(park, BrokerSpec(broker.host, broker.port), clock=clock, robots=[RobotSpec("dog-02")],
                       camera_port=None) as sim:
        sim.disconnect_robot("dog-02", duration_s=5.0)
        await watch.wait(lambda w: "CONNECTIONBROKEN" in [m["connectionState"] for m in w.of("connection")], 20)
        await sim.run_for(6.0)
        await watch.wait(lambda w: w.of("connection")[-1]["connectionState"] == "ONLINE", 20)
        kinds = [e.kind for e in sim.events.of_kind("fault.")]
        assert kinds == ["fault.robot_disconnect", "fault.robot_reconnect"]


async def _run_scenario(broker: BrokerEndpoint, seed: int, seconds: float) -> list[tuple[float, str, str]]:
    park = load_park(sample_park_path())
    scenario = load_scenario("fall_near_canteen")
    async with Simulation(park, BrokerSpec(broker.host, broker.port), clock=SimClock(0.0), scenario=scenario,
                          seed=seed, camera_port=None, robots=[RobotSpec("dog-01"), RobotSpec("guide-01", "guide")],
                          ) as sim:
        await sim.run_for(seconds, step=1.0)
    return sim.events.signature()


async def test_same_seed_gives_the_same_event_sequence(broker: BrokerEndpoint) -> None:
    first = await _run_scenario(broker, seed=11, seconds=400.0)
    second = await _run_scenario(broker, seed=11, seconds=400.0)
    assert first == second
    kinds = {k for _, k, _ in first}
    assert {"person.spawn", "person.fall", "person.arrive"} <= kinds
    other = await _run_scenario(broker, seed=12, seconds=400.0)
    assert other != first  # ambient visitors differ with the seed


async def test_scenario_faults_reach_the_robots(broker: BrokerEndpoint) -> None:
    park = load_park(test_park_path())
    scenario = parse_scenario(
        'name: faults\nstart: "2026-03-16T02:00:00+08:00"\nduration_s: 100\ntimeline:\n'
        "  - {at: 1, do: low_battery, robot: dog-01, charge: 9}\n"
        "  - {at: 2, do: estop, robot: dog-01, duration_s: 3}\n"
        "  - {at: 3, do: localisation_jump, robot: dog-01, dx: 5, dy: 0}\n"
        "  - {at: 4, do: robot_stuck, robot: dog-01, duration_s: 2}\n"
        "  - {at: 5, do: camera_drop, camera: cam_test, duration_s: 2}\n"
        "  - {at: 6, do: sensor_silent, sensor: pir_tp_lawn, duration_s: 5}\n"
        "  - {at: 7, do: sensor, sensor: door_tp_lab, values: {tamper: true}}\n"
        "  - {at: 8, do: broker_restart}\n")
    async with watching(broker, f"uagv/v2/{MANUFACTURER}/dog-01/state") as (_, watch), \
            Simulation(park, BrokerSpec(broker.host, broker.port), clock=SimClock(0.0), scenario=scenario,
                       robots=[RobotSpec("dog-01")], state_interval=1.0) as sim:
        await sim.run_for(2.5, step=0.25)
        await watch.wait(lambda w: any(s["safetyState"]["eStop"] != "NONE" for s in w.of("/state")))
        await sim.run_for(12.0, step=0.25)
        kinds = [e.kind for e in sim.events]
    for expected in ("fault.battery_set", "fault.estop", "fault.localisation_jump", "fault.stuck",
                     "fault.camera_drop", "fault.camera_back", "sensor.silent", "sensor.set",
                     "scenario.broker_restart_skipped"):
        assert expected in kinds, expected
    states = watch.of("/state")
    errors = {e["errorType"] for s in states for e in s["errors"]}
    assert "batteryLow" in errors
    assert any(s["batteryState"]["batteryCharge"] < 10 for s in states)


def test_bad_scenario_for_the_park_is_refused() -> None:
    park = load_park(test_park_path())
    with pytest.raises(ValueError, match="dog-07"):
        Simulation(park, None, clock=SimClock(), scenario=parse_scenario(
            'name: x\nstart: "2026-03-16T02:00:00+08:00"\nduration_s: 10\n'
            "timeline: [{at: 1, do: estop, robot: dog-07}]\n"))
