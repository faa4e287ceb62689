"""Patrol end to end: the service's planner drives simulated robot dogs over real MQTT (VDA 5050).

One scaled clock runs service and simulator 8x faster than real time. A low-battery dog goes to
the charger while the others patrol every checkpoint, evenly spaced; an alarm pulls the dog with
the lowest route time, which leaves the patrol (the others close the gap), scans, photographs,
reports and rejoins; a dog whose link is cut goes offline by its last will and the others take
over its share. No order may be refused by an agent along the way.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from maps import load_park, test_park_path
from patrol.alarms.model import AlarmSignal, AlarmType
from patrol.broker import BrokerEndpoint, free_port
from patrol.dispatch.model import Mode
from patrol.fleet.state import RobotChange
from patrol.patrolling import PatrolService
from patrol.roles import Role
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import RobotSpec, Simulation
from tests.support import register_robots, running_service, service_settings, until

DOGS = ("dog-01", "dog-02", "dog-03")


async def test_patrol_incident_battery_and_dropout(tmp_path: Path, private_broker: BrokerEndpoint,
        database_url: str) -> None:
    broker = private_broker
    await register_robots(database_url, [("parkpatrol-sim", s, "patrol_dog") for s in (*DOGS, "dog-04")])
    iface = f"t{secrets.token_hex(3)}"
    clock = ScaledClock(speed=8.0)
    park_file = test_park_path()
    settings = service_settings(tmp_path, broker, database_url, broker={"vda_interface": iface, "keepalive_s": 5},
                                park={"map_file": str(park_file)}, fleet={"offline_after_s": 30.0})
    robots = [RobotSpec(s, "patrol_dog", charge=95.0) for s in DOGS] + [RobotSpec("dog-04", "patrol_dog", charge=16.0)]
    async with running_service(settings, clock=clock) as svc, Simulation(
            load_park(park_file), BrokerSpec(broker.host, broker.port), clock=clock, robots=robots,
            camera_port=free_port(), state_interval=2.0, interface=iface) as sim:
        rt = svc.runtime
        patrol = rt.extras["patrol"]
        assert isinstance(patrol, PatrolService)

        def modes() -> dict[str, Mode]:
            d = patrol.dispatcher
            out: dict[str, Mode] = {}
            for rid in (*DOGS, "dog-04"):
                try:
                    out[rid] = d.mode(rid) if d is not None else Mode.IDLE
                except KeyError:
                    continue
            return out

        await until(lambda: all(modes().get(d) is Mode.PATROL for d in DOGS), "three dogs patrolling")
        await until(lambda: modes().get("dog-04") in (Mode.TO_CHARGER, Mode.CHARGING),
                     "the low-battery dog sent to the charger")
        await until(lambda: all(v["idleness_s"] is not None for v in patrol.idleness().values()),
                     "every checkpoint visited")
        assert patrol.dispatcher is not None and patrol.dispatcher.plan is not None
        plan = patrol.dispatcher.plan
        assert sorted(a.robot_id for a in plan.assignments) == sorted(DOGS)
        for loop_id, loop in enumerate(plan.loops):  # evenly spaced: robots on one loop are length / k apart
            phases = sorted(a.phase_m % loop.length for a in plan.robots_on(loop_id))
            gaps = [b - a for a, b in zip(phases, [*phases[1:], phases[0] + loop.length], strict=True)]
            assert max(gaps) - min(gaps) < 1e-6 * max(1.0, loop.length), (loop_id, phases)

        refused: set[tuple[str, str]] = set()  # every order error any dog's state ever carried

        def watch(change: RobotChange) -> None:
            refused.update((change.after.robot_id, f"{t}: {desc}") for t, _, desc in change.after.errors
                           if t in ("orderUpdateError", "validationError"))

        rt.fleet.listen(watch)

        # an alarm at the far corner pulls the robot with the lowest route time; it scans, reports, rejoins
        alarms = rt.extras["alarms"]
        target = rt.park.waypoints["w12"]
        await alarms.signal(AlarmSignal("test:smoke-w12", AlarmType.SMOKE, "sensor_trip",
                                        position=(target.x, target.y), message="smoke at w12"))
        await until(lambda: Mode.INCIDENT in modes().values(), "a dog sent to the incident")
        sent = next(r for r, m in modes().items() if m is Mode.INCIDENT)
        others = [d for d in DOGS if d != sent]
        assert all(modes().get(d) is Mode.PATROL for d in others)
        assert patrol.dispatcher.plan is not None
        planned = {a.robot_id for a in patrol.dispatcher.plan.assignments}
        assert sent not in planned and set(others) <= planned, "the other dogs close the gap without it"
        try:
            await until(lambda: bool(patrol.reports), "the incident report", within=90.0)
        except AssertionError:
            live = rt.fleet.robots[sent]
            raise AssertionError(f"{sent}: {live.order_id} last={live.last_node_id} ahead={live.node_ids_ahead} "
                                 f"actions={live.action_states} driving={live.driving} errors={live.errors} "
                                 f"paused={live.paused}") from None
        report = patrol.reports[-1]
        assert report.robot_id == sent and report.ok, report
        assert report.actions.get("scanArea") == "FINISHED" and report.actions.get("capturePhoto") == "FINISHED"
        assert report.t_arrived is not None and report.t_arrived <= report.t_done
        await until(lambda: modes().get(sent) is Mode.PATROL, "the dog back on patrol")
        visits_rejoin = patrol.visits
        try:  # the rejoin order is accepted: the dog drives it (its patrol order id stays or is updated)
            await until(lambda: patrol.visits >= visits_rejoin + 6 and rt.fleet.robots[sent].order_id.startswith(
                "patrol-") and bool(rt.fleet.robots[sent].node_ids_ahead), "the rejoined dog patrolling", within=30.0)
        except AssertionError:
            raise AssertionError(f"order errors after the rejoin: {sorted(refused)}") from None
        assert not refused, sorted(refused)
        assert set(DOGS) <= {a.robot_id for a in patrol.dispatcher.plan.assignments}
        # the incident's timeline tells the story: sent, arrived, reported, with the photo it took
        await alarms.drain()
        story = (await alarms.get_incident(int(report.incident_id))).timeline
        kinds = [e.kind for e in story]
        assert [k for k in kinds if k.startswith("robot_")] == [
            "robot_dispatched", "robot_arrived", "robot_report", "robot_photo"], kinds
        told = next(e.detail for e in story if e.kind == "robot_report")
        assert told["robot"] == sent and told["outcome"] == "done" and told["arrived_after_s"] is not None
        photo = next(e.detail for e in story if e.kind == "robot_photo")
        assert photo["source"] == told["results"]["capturePhoto"], (photo, told)  # the URL on the dog's camera
        viewer = await svc.login_as(Role.VIEWER)
        r = await svc.client.get(photo["photo"], headers=viewer)  # kept by the service, served from its origin
        assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff", r.text[:200]

        # a false alarm cleared while the robot is on its way: the incident closes and the robot comes back
        reports_before = len(patrol.reports)
        far = rt.park.waypoints["w1"]
        alarm = await alarms.signal(AlarmSignal("test:smoke-w1", AlarmType.SMOKE, "sensor_trip",
                                                position=(far.x, far.y), message="smoke at w1"))
        await until(lambda: Mode.INCIDENT in modes().values(), "a dog sent to the second incident")
        recalled = next(r for r, m in modes().items() if m is Mode.INCIDENT)
        operator = await svc.login_as(Role.OPERATOR)
        r = await svc.client.post(f"/api/alarms/{alarm.id}/clear", headers=operator, json={"note": "steam, no fire"})
        assert r.status_code == 200, r.text
        await until(lambda: len(patrol.reports) > reports_before, "the recalled dog's report")
        back = patrol.reports[-1]
        assert (back.robot_id, back.outcome) == (recalled, "recalled"), back
        assert back.actions.get("scanArea") != "FINISHED"
        await until(lambda: modes().get(recalled) is Mode.PATROL, "the recalled dog back on patrol")
        visits_back = patrol.visits
        await until(lambda: patrol.visits >= visits_back + 6 and rt.fleet.robots[recalled].order_id.startswith(
            "patrol-"), "the recalled dog patrolling", within=30.0)
        await alarms.drain()
        closed = await alarms.get_incident(alarm.incident_id)
        assert closed.status == "closed" and closed.timeline[-1].kind == "robot_report", closed.timeline
        assert not refused, sorted(refused)

        # a dog whose link is cut: offline by its last will, the others take over its share
        visits_before = patrol.visits
        sim.disconnect_robot("dog-01")
        await until(lambda: modes().get("dog-01") is Mode.OFFLINE, "dog-01 offline by last will")
        assert not rt.fleet.robots["dog-01"].online
        await until(lambda: sum(1 for d in DOGS[1:] if modes().get(d) is Mode.PATROL) == 2,
                     "the other two patrolling")
        try:
            await until(lambda: patrol.visits >= visits_before + 4, "patrol visits going on without dog-01")
        except AssertionError:
            info = {d: (modes().get(d), rt.fleet.robots[d].order_id, rt.fleet.robots[d].last_node_id,
                        rt.fleet.robots[d].node_ids_ahead, rt.fleet.robots[d].errors) for d in DOGS}
            raise AssertionError(f"visits {visits_before}->{patrol.visits}: {info}") from None
        assert rt.fleet.rejected.total() == 0
        assert not refused, sorted(refused)
