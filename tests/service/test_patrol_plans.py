"""Patrol plans through the API against the running service and simulated dogs (real MQTT, simulated clock):
roles and field errors, a plan taking over without stopping the dogs, editing it, and stopping it."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maps import load_park, test_park_path
from patrol.broker import BrokerEndpoint
from patrol.dispatch.model import Mode
from patrol.fleet.state import RobotChange
from patrol.patrolling import PatrolService, PatrolVisitRow
from patrol.roles import Role
from patrol.store.db import Store
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import RobotSpec, Simulation
from tests.support import register_robots, running_service, service_settings, until

DOGS = ("dog-01", "dog-02", "dog-03")


async def test_plans_are_created_switched_to_without_a_stop_edited_and_stopped(
        tmp_path: Path, private_broker: BrokerEndpoint, database_url: str) -> None:
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", s, "patrol_dog") for s in DOGS])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=8.0)
    park_file = test_park_path()
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface},
                                park={"map_file": str(park_file)})
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(park_file), BrokerSpec(broker.host, broker.port), clock=clock,
            robots=[RobotSpec(s, "patrol_dog", charge=95.0) for s in DOGS], camera_port=None,
            state_interval=2.0, interface=iface):
        rt = svc.runtime
        patrol = rt.extras["patrol"]
        assert isinstance(patrol, PatrolService)

        def patrolling() -> bool:
            d = patrol.dispatcher
            try:
                return d is not None and all(d.mode(r) is Mode.PATROL for r in DOGS)
            except KeyError:  # not registered with the dispatcher yet
                return False

        await until(lambda: len(rt.fleet.robots) == 3 and patrolling(), "three dogs on the default plan")
        default_plan = patrol.running_plan
        refused: set[str] = set()

        def watch(change: RobotChange) -> None:
            refused.update(f"{change.after.robot_id} {t}: {d}" for t, _, d in change.after.errors
                           if t in ("orderUpdateError", "validationError", "noOrderToCancel"))

        rt.fleet.listen(watch)
        night = {"name": "Night: gate and lab", "checkpoints": ["cp_w12", "cp_w4"], "schedule": "24/7", "rank": 10,
                 "mode": "on"}

        # roles and field errors
        assert (await svc.client.post("/api/patrol/plans", json=night)).status_code == 401
        viewer = await svc.login_as(Role.VIEWER)
        supervisor = await svc.login_as(Role.SUPERVISOR)
        assert (await svc.client.post("/api/patrol/plans", json=night, headers=viewer)).status_code == 403
        r = await svc.client.post("/api/patrol/plans", json={**night, "checkpoints": ["cp_nowhere"]},
                                  headers=supervisor)
        assert r.status_code == 422 and "checkpoints" in r.text and "cp_nowhere" in r.text, r.text
        r = await svc.client.post("/api/patrol/plans", json={**night, "schedule": "Mo-Xy 25:00"}, headers=supervisor)
        assert r.status_code == 422 and "schedule" in r.text, r.text
        r = await svc.client.post("/api/patrol/plans", json={**night, "robots": ["dog-01", "dog-99"]},
                                  headers=supervisor)
        assert r.status_code == 422 and "robots" in r.text and "dog-99" in r.text, r.text
        r = await svc.client.post("/api/patrol/plans", json={**night, "fly": True}, headers=supervisor)
        assert r.status_code == 422 and "fly" in r.text, r.text
        assert patrol.running_plan == default_plan

        # the night plan takes over: the dogs' orders are extended where they are, none is cancelled
        orders = {d: rt.fleet.robots[d].order_id for d in DOGS}
        r = await svc.client.post("/api/patrol/plans", json=night, headers=supervisor)
        assert r.status_code == 201, r.text
        plan_id = r.json()["id"]
        assert patrol.running_plan == plan_id and r.json()["running"]
        status = (await svc.client.get("/api/patrol/idleness", headers=viewer)).json()
        assert status["running_plan"] == plan_id and set(status["checkpoints"]) == {"cp_w12", "cp_w4"}
        visits = patrol.visits
        await until(lambda: patrol.visits >= visits + 6, "visits on the night plan")
        assert patrolling() and {d: rt.fleet.robots[d].order_id for d in DOGS} == orders
        assert not refused, sorted(refused)

        # held by an operator (a viewer may not): the dogs stand, then go on where they stood
        operator = await svc.login_as(Role.OPERATOR)
        assert (await svc.client.post("/api/patrol/pause", headers=viewer)).status_code == 403
        r = await svc.client.post("/api/patrol/pause", headers=operator)
        assert r.status_code == 200 and r.json()["paused"], r.text
        await until(lambda: all(rt.fleet.robots[d].paused and not rt.fleet.robots[d].driving for d in DOGS),
                    "every dog paused")
        visits = patrol.visits
        await asyncio.sleep(2.0)  # 16 simulated seconds
        assert patrol.visits == visits, "nobody moves while the patrol is held"
        r = await svc.client.post("/api/patrol/resume", headers=operator)
        assert r.status_code == 200 and not r.json()["paused"], r.text
        await until(lambda: patrol.visits >= visits + 3, "visits again after the resume")
        assert {d: rt.fleet.robots[d].order_id for d in DOGS} == orders

        # edited while running: re-planned in place with the new checkpoints
        r = await svc.client.put(f"/api/patrol/plans/{plan_id}", json={**night, "checkpoints": ["cp_w7"]},
                                 headers=supervisor)
        assert r.status_code == 200 and r.json()["checkpoints"] == ["cp_w7"], r.text
        status = (await svc.client.get("/api/patrol/idleness", headers=viewer)).json()
        assert status["running_plan"] == plan_id and set(status["checkpoints"]) == {"cp_w7"}
        await until(lambda: patrol.idleness()["cp_w7"]["idleness_s"] is not None, "cp_w7 visited")
        assert (await svc.client.put("/api/patrol/plans/99999", json=night, headers=supervisor)).status_code == 404

        # for two dogs only: the third stops where it is and stands by, the two go on without a stop
        r = await svc.client.put(f"/api/patrol/plans/{plan_id}", headers=supervisor,
                                 json={**night, "checkpoints": ["cp_w7"], "robots": ["dog-01", "dog-02"]})
        assert r.status_code == 200, r.text
        assert patrol.dispatcher is not None and not patrol.dispatcher.member("dog-03")
        await until(lambda: not rt.fleet.robots["dog-03"].driving and not rt.fleet.robots["dog-03"].node_ids_ahead,
                    "dog-03 stopped")
        visits = patrol.visits
        await until(lambda: patrol.visits >= visits + 3, "the two dogs patrolling")
        assert {d: rt.fleet.robots[d].order_id for d in DOGS[:2]} == {d: orders[d] for d in DOGS[:2]}

        # stopped: the default plan runs again, still without a stop
        r = await svc.client.post(f"/api/patrol/plans/{plan_id}/stop", headers=supervisor)
        assert r.status_code == 200 and r.json()["mode"] == "off" and not r.json()["running"], r.text
        assert patrol.running_plan == default_plan
        await until(patrolling, "all three dogs on the default plan again (dog-03 joins where it stood)")
        visits = patrol.visits
        await until(lambda: patrol.visits >= visits + 6, "visits on the default plan again")
        assert {d: rt.fleet.robots[d].order_id for d in DOGS[:2]} == {d: orders[d] for d in DOGS[:2]}
        assert not refused, sorted(refused)
        # every visit is stored: who passed which checkpoint when, under which plan
        await patrol.flush_visits()
        r = await svc.client.get("/api/patrol/visits", params={"limit": 10_000}, headers=viewer)
        assert r.status_code == 200, r.text
        stored = r.json()
        assert len(stored) == patrol.visits_stored and {v["plan_id"] for v in stored} == {default_plan, plan_id}
        assert {v["checkpoint"] for v in stored if v["plan_id"] == plan_id} == {"cp_w12", "cp_w4", "cp_w7"}
        assert {v["robot_id"] for v in stored} <= set(DOGS) and [v["at"] for v in stored] == sorted(
            (v["at"] for v in stored), reverse=True)
        r = await svc.client.get("/api/patrol/visits", params={"checkpoint": "cp_w7", "robot": "dog-02"},
                                 headers=viewer)
        assert r.status_code == 200 and {(v["checkpoint"], v["robot_id"]) for v in r.json()} <= {("cp_w7", "dog-02")}
        r = await svc.client.get("/api/patrol/visits", params={"checkpoint": "cp_nowhere"}, headers=viewer)
        assert r.status_code == 422 and "checkpoint" in r.text, r.text
        r = await svc.client.get("/api/patrol/visits", params={"since": "2026-03-16T22:00:00"}, headers=viewer)
        assert r.status_code == 422 and "since" in r.text, r.text
        assert patrol.visits_dropped == 0
        audit = rt.extras["audit"]
        done = [e.action for e in await audit.entries(target=f"plan:{plan_id}")]
        assert sorted(done) == ["patrol.pause", "patrol.plan.create", "patrol.plan.stop", "patrol.plan.update",
                                "patrol.plan.update", "patrol.resume"]
        r = await svc.client.post("/api/patrol/pause", headers=operator)  # the default plan runs: it can be held
        assert r.status_code == 200 and r.json()["running_plan"] == default_plan


async def test_idleness_goes_on_counting_across_a_restart(tmp_path: Path, broker: BrokerEndpoint,
                                                          database_url: str) -> None:
    start = datetime(2026, 3, 16, 22, 0, tzinfo=UTC).timestamp()
    settings = service_settings(tmp_path, broker, database_url, park={"map_file": str(test_park_path())})
    async with running_service(settings, clock=ScaledClock(start=start)) as svc:  # no dog: nothing is visited
        assert all(v["idleness_s"] is None for v in svc.runtime.extras["patrol"].idleness().values())
    store = Store(database_url)
    async with store.sessions.begin() as s:  # as a patrol before the restart left it
        s.add(PatrolVisitRow(at=datetime(2026, 3, 16, 21, 50, tzinfo=UTC), checkpoint="cp_w7", waypoint="w7",
                             robot_id="dog-02", interval_s=None, plan_id=1))
        s.add(PatrolVisitRow(at=datetime(2026, 3, 16, 21, 40, tzinfo=UTC), checkpoint="cp_w7", waypoint="w7",
                             robot_id="dog-01", interval_s=None, plan_id=1))
    await store.close()
    async with running_service(settings, clock=ScaledClock(start=start)) as svc:
        viewer = await svc.login_as(Role.VIEWER)
        status = (await svc.client.get("/api/patrol/idleness", headers=viewer)).json()
        assert status["checkpoints"]["cp_w7"]["idleness_s"] == pytest.approx(600.0, abs=5.0)
        assert status["checkpoints"]["cp_w7"]["last_robot"] == "dog-02"
        assert status["checkpoints"]["cp_w4"]["idleness_s"] is None
