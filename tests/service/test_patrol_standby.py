"""With no patrol plan running (every plan off, or outside its schedule) the dogs stand by, and an alarm
still sends the one with the lowest route time over real MQTT: it scans, photographs, reports into the
incident and then goes back to a charger, its dock; the other dog never moves. A plan that starts later
takes both where they stand."""

from __future__ import annotations

import secrets
from pathlib import Path

from maps import load_park, test_park_path
from patrol.alarms.model import AlarmSignal, AlarmType
from patrol.broker import BrokerEndpoint
from patrol.dispatch.model import Mode
from patrol.fleet.state import RobotChange
from patrol.patrolling import PatrolService
from patrol.roles import Role
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import RobotSpec, Simulation
from tests.support import register_robots, running_service, service_settings, until

DOGS = ("dog-01", "dog-02")


async def test_an_alarm_with_no_plan_running_sends_a_dog_which_then_docks(
        tmp_path: Path, private_broker: BrokerEndpoint, database_url: str) -> None:
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", s, "patrol_dog") for s in DOGS])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=8.0)
    park_file = test_park_path()
    park = load_park(park_file)
    assert park.chargers, "the test park has chargers"
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface},
                                park={"map_file": str(park_file)})
    async with running_service(settings, clock=clock) as svc, Simulation(
            park, BrokerSpec(broker.host, broker.port), clock=clock,
            robots=[RobotSpec(s, "patrol_dog", charge=95.0) for s in DOGS], camera_port=None,
            state_interval=2.0, interface=iface):
        rt = svc.runtime
        patrol = rt.extras["patrol"]
        assert isinstance(patrol, PatrolService)
        supervisor = await svc.login_as(Role.SUPERVISOR)
        viewer = await svc.login_as(Role.VIEWER)
        operator = await svc.login_as(Role.OPERATOR)
        refused: set[str] = set()

        def watch(change: RobotChange) -> None:
            refused.update(f"{change.after.robot_id} {t}: {d}" for t, _, d in change.after.errors
                           if t in ("orderUpdateError", "validationError"))

        rt.fleet.listen(watch)

        def mode(rid: str) -> Mode | None:
            d = patrol.dispatcher
            try:
                return d.mode(rid) if d is not None else None
            except KeyError:
                return None

        # every plan off: nobody patrols
        plans = (await svc.client.get("/api/patrol/plans", headers=viewer)).json()
        for p in plans:
            r = await svc.client.post(f"/api/patrol/plans/{p['id']}/stop", headers=supervisor)
            assert r.status_code == 200, r.text
        await until(lambda: len(rt.fleet.robots) == 2 and all(mode(d) is Mode.IDLE for d in DOGS),
                    "both dogs standing by")
        status = (await svc.client.get("/api/patrol/idleness", headers=viewer)).json()
        assert status["running_plan"] is None and status["robots"] == {d: "idle" for d in DOGS}, status
        r = await svc.client.post("/api/patrol/pause", headers=operator)
        assert r.status_code == 409, "nothing to hold"
        where = {d: rt.fleet.robots[d].last_node_id for d in DOGS}

        # an alarm at w12: the dog with the lowest route time goes
        alarms = rt.extras["alarms"]
        target = rt.park.waypoints["w12"]
        await alarms.signal(AlarmSignal("test:smoke-w12", AlarmType.SMOKE, "sensor_trip",
                                        position=(target.x, target.y), message="smoke at w12"))
        await until(lambda: any(mode(d) is Mode.INCIDENT for d in DOGS), "a dog sent with no plan running")
        sent = next(d for d in DOGS if mode(d) is Mode.INCIDENT)
        other = next(d for d in DOGS if d != sent)
        routing = patrol.base.planner.paths
        assert routing.dist(where[sent], "w12") <= routing.dist(where[other], "w12"), where
        await until(lambda: bool(patrol.reports), "the incident report", within=90.0)
        report = patrol.reports[-1]
        assert (report.robot_id, report.outcome) == (sent, "done"), report

        # done: back to the nearest free charger, not left at the scene, not patrolling
        chargers = set(patrol.base.chargers)
        await until(lambda: mode(sent) is Mode.IDLE and rt.fleet.robots[sent].last_node_id in chargers
                    and not rt.fleet.robots[sent].driving, "the dog docked", within=90.0)
        assert rt.fleet.robots[other].last_node_id == where[other] and mode(other) is Mode.IDLE
        assert patrol.running_plan is None and not refused, sorted(refused)
        await alarms.drain()
        story = (await alarms.get_incident(int(report.incident_id))).timeline
        assert [e.kind for e in story if e.kind.startswith("robot_")][:3] == [
            "robot_dispatched", "robot_arrived", "robot_report"], [e.kind for e in story]

        # the default plan back on its schedule: both dogs patrol from where they stand
        default = plans[0]
        fields = {k: default[k] for k in ("name", "checkpoints", "schedule", "robots", "rank")}
        r = await svc.client.put(f"/api/patrol/plans/{default['id']}", json={**fields, "mode": "auto"},
                                 headers=supervisor)
        assert r.status_code == 200 and r.json()["running"], r.text
        await until(lambda: all(mode(d) is Mode.PATROL for d in DOGS), "both dogs on the plan")
        visits = patrol.visits
        await until(lambda: patrol.visits >= visits + 4, "visits on the plan")
        # a plan switched on by hand outranks a scheduled one of the same rank
        r = await svc.client.post("/api/patrol/plans", headers=supervisor,
                                  json={**fields, "name": "By hand", "checkpoints": ["cp_w12"], "mode": "on"})
        assert r.status_code == 201 and r.json()["running"], r.text
        assert patrol.running_plan == r.json()["id"]
        assert not refused, sorted(refused)
