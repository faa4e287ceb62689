"""Dispatcher rules on a simulated clock, with FakeFleet executing the VDA 5050 orders it emits."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import pytest

from patrol.dispatch.dispatcher import PatrolDispatcher
from patrol.dispatch.incident import Candidate, choose_robot
from patrol.dispatch.model import BatteryPolicy, Incident, IncidentReport, Mode, RobotInfo
from patrol.dispatch.orders import NodeGeometry
from patrol.planner.model import Checkpoint, Strategy
from patrol.planner.paths import ShortestPaths
from patrol.planner.planner import Planner
from robots.vda5050.topics import RobotId
from tests.planner.fake_fleet import FakeFleet
from tests.planner.graphs import grid

ALL_ACTIONS = frozenset({"capturePhoto", "scanArea", "startCharging", "stopCharging"})
LOOP = 200.0  # optimal tour of grid(5, 4)


@dataclass
class World:
    disp: PatrolDispatcher
    fleet: FakeFleet
    reports: list[IncidentReport] = field(default_factory=list)
    t: float = 0.0
    offline: set[str] = field(default_factory=set)

    def run(self, until: float, dt: float = 0.25) -> None:
        while self.t < until - 1e-9:
            self.fleet.step(dt, self.t)
            self.t += dt
            for rid in self.fleet.robots:
                if rid not in self.offline:
                    self.disp.update(self.fleet.status(rid), self.t)
            self.disp.tick(self.t)
            assert not self.fleet.refused, f"orders the robots refused at t={self.t}: {self.fleet.refused}"

    def intervals(self, since: float, until: float = math.inf) -> list[float]:
        return [iv for t, iv, _ in self.disp.monitor.intervals() if since <= t <= until]


def make_world(
    graph: nx.Graph,
    robots: dict[str, tuple[int, float]],
    chargers: Iterable[int] = (),
    actions: frozenset[str] = ALL_ACTIONS,
    battery: BatteryPolicy | None = None,
    start: bool = True,
    drain_pct_per_m: float = 0.02,
) -> World:
    planner = Planner(graph)
    geometry = NodeGeometry.from_graph(graph, "park")
    fleet = FakeFleet(planner.paths, geometry, drain_pct_per_m=drain_pct_per_m, charge_pct_per_s=1.0)
    reports: list[IncidentReport] = []
    disp = PatrolDispatcher(
        planner,
        geometry,
        fleet,
        strategy=Strategy.CYCLIC,
        chargers=list(chargers),
        battery=battery,
        on_incident_report=reports.append,
    )
    for rid, (node, pct) in robots.items():
        fleet.add(rid, node, pct)
        disp.register(RobotInfo(rid, RobotId("acme", rid), actions=actions, consumption_pct_per_m=drain_pct_per_m))
        disp.update(fleet.status(rid), 0.0)
    if start:
        disp.start_patrol(0.0)
    return World(disp, fleet, reports)


def test_three_robot_patrol_visits_every_checkpoint_evenly_spaced() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (1, 100.0), "c": (2, 100.0)})
    w.run(1500.0)
    assert w.disp.monitor.stats().unvisited == 0
    late = w.intervals(since=900.0)
    spacing = LOOP / 3
    assert max(late) <= spacing * 1.05
    assert min(late) >= spacing * 0.95
    for r in w.fleet.robots.values():
        assert len(r.visits) > 50


def test_orders_have_base_and_horizon_and_updates_validate_against_the_schema(shared_dir: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared_dir / "specs/vda5050-2.1.0/order.schema").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0)})
    w.run(120.0)
    by_order: dict[str, list[int]] = defaultdict(list)
    for _rid, order in w.fleet.orders:
        errors = list(validator.iter_errors(order.to_dict()))
        assert not errors, errors[0].message
        by_order[order.order_id].append(order.order_update_id)
    first = next(o for rid, o in w.fleet.orders if rid == "a")
    assert first.order_update_id == 0
    assert [n.released for n in first.nodes] == [True] * 3 + [False] * 6  # here + 2 base, 6 horizon
    assert [n.sequence_id for n in first.nodes] == list(range(0, 18, 2))
    assert any(a.action_type == "capturePhoto" for n in first.nodes for a in n.actions)
    for ids in by_order.values():
        assert ids == list(range(len(ids)))  # orderUpdateId counts up by one
    # each update stitches at the previous base end
    prev_end: dict[str, tuple[str, int]] = {}
    for _, order in w.fleet.orders:
        if order.order_update_id > 0:
            assert (order.nodes[0].node_id, order.nodes[0].sequence_id) == prev_end[order.order_id]
        base = [n for n in order.nodes if n.released]
        prev_end[order.order_id] = (base[-1].node_id, base[-1].sequence_id)


def test_checkpoint_actions_only_when_the_factsheet_declares_them() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0)}, actions=frozenset())
    w.run(60.0)
    assert all(not n.actions for _, o in w.fleet.orders for n in o.nodes)


def walled_grid() -> nx.Graph:
    """grid(5, 4) with a wall between rows 0 and 1 except at the last column."""
    g = grid(5, 4)
    for c in range(4):
        g.remove_edge(c, c + 5)
    return g


def test_incident_choice_uses_route_time_not_straight_line() -> None:
    g = walled_grid()
    paths = ShortestPaths(g)
    near = RobotInfo("near", RobotId("acme", "near"), actions=ALL_ACTIONS)
    far = RobotInfo("far", RobotId("acme", "far"), actions=ALL_ACTIONS)
    weak = RobotInfo("weak", RobotId("acme", "weak"), actions=frozenset({"capturePhoto"}))
    cands = [Candidate(near, 5, 0.0, 100.0), Candidate(far, 3, 0.0, 100.0), Candidate(weak, 1, 0.0, 100.0)]
    choice = choose_robot("inc-1", 0, cands, paths, chargers=[19])
    assert choice is not None and choice.robot_id == "far"  # 30 m route vs 90 m round the wall
    assert choice.route == (3, 2, 1, 0)
    # not enough battery for there and back to the charger: skipped
    flat = [Candidate(far, 3, 0.0, 11.0), Candidate(near, 5, 0.0, 100.0)]
    choice = choose_robot("inc-2", 0, flat, paths, chargers=[19])
    assert choice is not None and choice.robot_id == "near"


def test_alarm_pulls_the_fastest_robot_which_reports_and_rejoins_while_the_others_close_the_gap() -> None:
    w = make_world(walled_grid(), {"near": (5, 100.0), "far": (3, 100.0), "third": (17, 100.0)})
    w.run(400.0)
    incident = Incident("inc-7", 0, "door forced")
    choice = w.disp.dispatch_incident(incident, w.t)
    assert choice is not None
    chosen = choice.robot_id
    assert w.disp.mode(chosen) is Mode.INCIDENT
    assert w.disp.plan is not None and len(w.disp.plan.assignments) == 2
    w.run(w.t + 200.0)
    assert [r.incident_id for r in w.reports] == ["inc-7"]
    report = w.reports[0]
    assert report.ok and report.robot_id == chosen and report.t_arrived is not None
    assert set(report.actions) == {"scanArea", "capturePhoto"}
    incident_orders = [o for rid, o in w.fleet.orders if rid == chosen and o.order_id.startswith("incident")]
    target = incident_orders[0].nodes[-1]
    assert target.node_id == "0" and {a.action_type for a in target.actions} == {"scanArea", "capturePhoto"}
    assert w.disp.mode(chosen) is Mode.PATROL and len(w.disp.plan.assignments) == 3
    w.run(w.t + 900.0)
    late = w.intervals(since=w.t - 400.0)
    assert max(late) <= w.disp.plan.predicted_worst_s * 1.1


def test_incident_at_the_robots_unreached_base_end_scans_there_then_rejoins_with_an_order_it_accepts() -> None:
    # issue 6: the one-node incident order stitched at the base end used to send scanArea/capturePhoto
    # at once; they finished on the way, the robot "rejoined" from a vertex short of its base end and
    # the rejoin order (not stitching there) was refused by the robot
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (10, 100.0)})
    w.run(100.0)
    while not (w.fleet.robots["a"].queue and w.fleet.robots["a"].leg_m > 0):
        w.run(w.t + 0.25)
    end = w.fleet.robots["a"].queue[-1][1]
    assert end != w.fleet.robots["a"].node
    choice = w.disp.dispatch_incident(Incident("inc-9", end), w.t)
    assert choice is not None and choice.robot_id == "a" and choice.route == (end,)
    assert not [m for rid, m in w.fleet.instant if rid == "a"], "nothing to do before it gets there"
    w.run(w.t + 120.0)  # run() fails on any order the robot side refuses
    assert [r.incident_id for r in w.reports] == ["inc-9"]
    report = w.reports[0]
    assert report.ok and report.t_arrived is not None
    arrived = min(t for t, n in w.fleet.robots["a"].visits if t >= report.t_assigned and n == end)
    assert report.t_arrived >= arrived
    sent = [a.action_type for rid, m in w.fleet.instant if rid == "a" for a in m.actions]
    assert sent == ["scanArea", "capturePhoto"]
    assert w.disp.mode("a") is Mode.PATROL
    assert w.disp.plan is not None and len(w.disp.plan.assignments) == 2
    rejoin = [o for rid, o in w.fleet.orders if rid == "a" and o.order_id.startswith("patrol")
              and o.order_update_id == 0][-1]
    assert rejoin.nodes[0].node_id == str(end)
    w.run(w.t + 600.0)
    late = w.intervals(since=w.t - 200.0)
    assert max(late) <= LOOP / 2 * 1.05


def test_a_closed_incident_recalls_its_robot_which_stops_and_rejoins_the_patrol() -> None:
    w = make_world(walled_grid(), {"near": (5, 100.0), "far": (3, 100.0), "third": (17, 100.0)})
    w.run(400.0)
    choice = w.disp.dispatch_incident(Incident("inc-3", 0, "false alarm"), w.t)
    assert choice is not None
    chosen = choice.robot_id
    w.run(w.t + 3.0)  # on its way
    assert w.disp.recall_incident("inc-3", w.t) == chosen
    assert w.disp.recall_incident("inc-3", w.t) is None, "recalled once"
    sent = [a.action_type for rid, m in w.fleet.instant if rid == chosen for a in m.actions]
    assert sent == ["cancelOrder"]
    assert [(r.incident_id, r.robot_id, r.ok, r.outcome) for r in w.reports] == [("inc-3", chosen, False, "recalled")]
    w.run(w.t + 30.0)  # run() fails on any order the robot refuses
    assert w.disp.mode(chosen) is Mode.PATROL
    assert w.disp.plan is not None and len(w.disp.plan.assignments) == 3
    # it never ran the incident's scan or photo
    incident_order = next(o for rid, o in w.fleet.orders if rid == chosen and o.order_id.startswith("incident"))
    looks = [a.action_id for n in incident_order.nodes for a in n.actions]
    assert looks and not [a for a in looks if w.fleet.robots[chosen].action_states.get(a) == "FINISHED"]
    w.run(w.t + 900.0)
    late = w.intervals(since=w.t - 400.0)
    assert max(late) <= w.disp.plan.predicted_worst_s * 1.1


def test_a_robot_lost_on_its_way_to_an_incident_is_replaced_by_the_next_fastest() -> None:
    w = make_world(walled_grid(), {"near": (5, 100.0), "far": (3, 100.0), "third": (17, 100.0)})
    w.run(400.0)
    choice = w.disp.dispatch_incident(Incident("inc-4", 0, "smoke"), w.t)
    assert choice is not None
    lost = choice.robot_id
    w.run(w.t + 3.0)
    w.fleet.robots[lost].online = False
    w.offline.add(lost)
    w.disp.offline(lost, w.t)
    assert len(w.reports) == 1
    gone = w.reports[0]
    assert (gone.robot_id, gone.ok, gone.outcome) == (lost, False, "offline")
    assert gone.next_robot is not None and gone.next_robot != lost
    assert w.disp.mode(gone.next_robot) is Mode.INCIDENT
    w.run(w.t + 300.0)
    done = w.reports[1]
    assert (done.incident_id, done.robot_id, done.ok, done.outcome) == ("inc-4", gone.next_robot, True, "done")
    assert w.disp.mode(gone.next_robot) is Mode.PATROL


def test_a_plan_switch_re_plans_where_the_robots_are_and_the_incident_goes_on() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)})
    w.run(300.0)
    choice = w.disp.dispatch_incident(Incident("inc-5", 19, "smoke"), w.t)
    assert choice is not None
    busy = choice.robot_id
    w.run(w.t + 2.0)
    orders_before = {rid: (r.order_id, r.update_id) for rid, r in w.fleet.robots.items()}
    idle_before = {c.node: c.idle_s for c in w.disp.idleness(w.t)}
    # the night plan watches the top two rows only, row 0 twice as often
    night = Planner(w.disp.planner.paths, [Checkpoint(v, priority=2 if v < 5 else 1) for v in range(10)])
    plan = w.disp.switch_plan(night, w.t)
    assert plan is not None and {a.robot_id for a in plan.assignments} == {"a", "b", "c"} - {busy}
    assert not w.fleet.instant, "nobody is cancelled or paused"
    assert {c.node for c in w.disp.idleness(w.t)} == set(range(10))
    assert {c.node: c.idle_s for c in w.disp.idleness(w.t)} == {v: idle_before[v] for v in range(10)}
    w.run(w.t + 200.0)  # run() fails on any order the robots refuse
    for rid, (order_id, update_id) in orders_before.items():
        if rid != busy:  # the patrollers' orders were extended (stitched), not replaced
            assert w.fleet.robots[rid].order_id == order_id and w.fleet.robots[rid].update_id > update_id
    assert [(r.incident_id, r.robot_id, r.outcome) for r in w.reports] == [("inc-5", busy, "done")]
    assert w.disp.mode(busy) is Mode.PATROL and len(w.disp.plan.assignments) == 3
    w.run(w.t + 1200.0)
    late = [(n, iv) for t, iv, n in w.disp.monitor.intervals() if t > w.t - 600.0]
    assert {n for n, _ in late} == set(range(10)), "only the night plan's checkpoints are watched"
    assert max(iv for _, iv in late) <= w.disp.plan.predicted_worst_s * 1.1


def test_a_plan_with_other_robots_puts_the_rest_in_reserve_after_their_errands() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)}, chargers=[3])
    w.run(300.0)
    choice = w.disp.dispatch_incident(Incident("inc-6", 19, "smoke"), w.t)
    assert choice is not None
    busy = choice.robot_id
    idle_one = next(r for r in ("a", "b", "c") if r != busy)
    kept = ({"a", "b", "c"} - {busy, idle_one}).pop()
    w.run(w.t + 2.0)
    w.disp.switch_plan(w.disp.planner, w.t, keep={kept})
    assert [(rid, m.actions[0].action_type) for rid, m in w.fleet.instant] == [(idle_one, "cancelOrder")]
    assert w.disp.mode(idle_one) is Mode.IDLE and w.disp.mode(busy) is Mode.INCIDENT
    assert not w.disp.member(idle_one) and not w.disp.member(busy) and w.disp.member(kept)
    assert w.disp.plan is not None and [a.robot_id for a in w.disp.plan.assignments] == [kept]
    orders = len([rid for rid, _ in w.fleet.orders if rid == idle_one])
    w.run(w.t + 200.0)
    assert [(r.robot_id, r.outcome) for r in w.reports] == [(busy, "done")]
    assert [rid for rid, _ in w.fleet.orders if rid == idle_one][orders:] == [], "the reserve gets no order"
    # done, not on the plan: back to the charger (its dock), not onto the patrol
    assert w.disp.mode(busy) in (Mode.TO_CHARGER, Mode.CHARGING, Mode.IDLE)
    w.run(w.t + 200.0)
    assert w.fleet.robots[busy].node == 3 and w.disp.mode(busy) is Mode.IDLE
    assert [a.robot_id for a in w.disp.plan.assignments] == [kept]
    w.run(w.t + 600.0)
    late = w.intervals(since=w.t - 300.0)
    assert max(late) <= LOOP * 1.05
    # the reserve still answers alarms: the one standing next to the incident goes, the patrol goes on
    near = 8 if w.fleet.robots[idle_one].node != 8 else 9
    assert w.disp.dispatch_incident(Incident("inc-7", near, "door"), w.t) is not None
    assert w.disp.mode(kept) is Mode.PATROL


def test_an_incident_no_robot_can_take_waits_for_the_first_one_free() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (10, 100.0)})
    assigned: list[tuple[str, str, float]] = []
    w.disp._on_assigned = lambda inc, rid, waited: assigned.append((inc.incident_id, rid, waited))
    w.run(100.0)
    first = w.disp.dispatch_incident(Incident("inc-1", 19, "smoke"), w.t)
    second = w.disp.dispatch_incident(Incident("inc-2", 0, "door"), w.t)
    assert first is not None and second is not None
    assert w.disp.dispatch_incident(Incident("inc-3", 12, "glass"), w.t) is None, "both dogs are busy"
    assert w.disp.dispatch_incident(Incident("inc-4", 7, "fence"), w.t) is None
    assert w.disp.waiting_incidents() == ["inc-3", "inc-4"]
    assert w.disp.recall_incident("inc-4", w.t) is None and w.disp.waiting_incidents() == ["inc-3"]
    w.run(w.t + 300.0)
    assert [x[:2] for x in assigned] == [("inc-3", assigned[0][1])] and assigned[0][2] > 0
    assert {r.incident_id for r in w.reports if r.outcome == "done"} == {"inc-1", "inc-2", "inc-3"}
    assert w.disp.waiting_incidents() == []
    assert {w.disp.mode("a"), w.disp.mode("b")} == {Mode.PATROL}


def test_incident_robot_is_the_one_with_the_lowest_route_time() -> None:
    w = make_world(walled_grid(), {"near": (5, 100.0), "far": (3, 100.0)}, start=False)
    choice = w.disp.dispatch_incident(Incident("inc-1", 0), 0.0)
    assert choice is not None and choice.robot_id == "far"
    assert choice.travel_s == pytest.approx(30.0)


def test_low_battery_robot_docks_is_replaced_and_rejoins_when_charged() -> None:
    battery = BatteryPolicy(reserve_pct=15.0, resume_pct=90.0, margin=1.2)
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (5, 100.0), "low": (12, 24.0)}, chargers=[19], battery=battery)
    modes: list[Mode] = []
    charging_from = None
    while w.t < 400.0:
        w.run(w.t + 1.0)
        modes.append(w.disp.mode("low"))
        if modes[-1] is Mode.CHARGING and charging_from is None:
            charging_from = w.t
            plan = w.disp.plan
            assert plan is not None and {a.robot_id for a in plan.assignments} == {"a", "b"}
            assert set(plan.loops[0].walk) == set(range(20))  # the two others cover the whole loop
    assert Mode.TO_CHARGER in modes and Mode.CHARGING in modes
    assert charging_from is not None
    docked_at = [n for t, n in w.fleet.robots["low"].visits if t <= charging_from]
    assert docked_at[-1] == 19
    assert any(a.action_type == "startCharging" for rid, m in w.fleet.instant if rid == "low" for a in m.actions)
    # while it went to charge and charged, the two others kept visiting
    during = [n for t, n in w.fleet.robots["a"].visits + w.fleet.robots["b"].visits if t > charging_from - 60]
    assert len(set(during)) >= 15
    assert modes[-1] is Mode.PATROL  # charged to 90 % and back on patrol
    assert any(a.action_type == "stopCharging" for rid, m in w.fleet.instant if rid == "low" for a in m.actions)
    assert w.disp.plan is not None and len(w.disp.plan.assignments) == 3
    assert w.fleet.robots["low"].battery > 80.0


def test_a_lap_longer_than_a_charge_covers_is_patrolled_until_only_the_way_to_the_charger_is_left() -> None:
    # 100 % lasts 1.5 laps: a lap plus margin and reserve needs ~95 %, more than the 90 % it resumes at. The old
    # rule sent it back to the charger the moment it rejoined; now it patrols until the charger is due.
    battery = BatteryPolicy(reserve_pct=15.0, resume_pct=90.0, margin=1.2)
    drain = 100.0 / (1.5 * LOOP)
    w = make_world(grid(5, 4), {"solo": (0, 100.0)}, chargers=[19], battery=battery, drain_pct_per_m=drain)
    solo = w.fleet.robots["solo"]
    spells: list[tuple[Mode, float]] = []
    lowest = 100.0
    while w.t < 1500.0:
        w.run(w.t + 1.0)
        mode = w.disp.mode("solo")
        if not spells or spells[-1][0] is not mode:
            spells.append((mode, w.t))
        lowest = min(lowest, solo.battery)
    patrols = [t for m, t in spells if m is Mode.PATROL]
    charges = [t for m, t in spells if m is Mode.TO_CHARGER]
    assert len(charges) >= 2 and len(patrols) >= 2, spells
    # after each charge it patrols long enough to visit every checkpoint, not a few nodes
    for start, end in zip(patrols[1:], charges[1:], strict=False):
        seen = {n for t, n in solo.visits if start <= t <= end}
        assert end - start >= LOOP * 0.5 and len(seen) >= 10, spells
    assert lowest >= battery.reserve_pct * 0.5  # and it never ran flat on the way


def test_offline_robots_share_is_taken_over() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)})
    w.run(300.0)
    w.fleet.robots["c"].online = False
    w.offline.add("c")
    w.disp.offline("c", w.t)
    assert w.disp.mode("c") is Mode.OFFLINE
    assert w.disp.plan is not None and {a.robot_id for a in w.disp.plan.assignments} == {"a", "b"}
    w.run(1500.0)
    late = [iv for t, iv, _ in w.disp.monitor.intervals() if t > 1000.0]
    assert max(late) <= LOOP / 2 * 1.05
    visited_late = {n for t, iv, n in w.disp.monitor.intervals() if t > 1000.0}
    assert visited_late == set(range(20))
    # back online: it rejoins from where it stands and the three re-space
    w.fleet.robots["c"].online = True
    w.fleet.robots["c"].drop_order()
    w.offline.discard("c")
    w.run(1501.0)
    assert w.disp.mode("c") is Mode.PATROL
    assert {a.robot_id for a in w.disp.plan.assignments} == {"a", "b", "c"}
    w.run(2600.0)
    late = [iv for t, iv, _ in w.disp.monitor.intervals() if t > 2100.0]
    assert max(late) <= LOOP / 3 * 1.05


def test_robot_back_from_a_link_loss_is_resynchronised_and_rejoins() -> None:
    # its link broke while it drove a released base: its next state says what it holds, the books follow
    # that, and it joins where its base ends; no order is refused (World.run fails on any refusal)
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)})
    w.run(300.0)
    assert w.fleet.robots["c"].queue, "c should be driving a released base when its link breaks"
    w.fleet.robots["c"].online = False
    w.offline.add("c")
    w.disp.offline("c", w.t)
    w.run(310.0)
    w.fleet.robots["c"].online = True
    w.offline.discard("c")
    w.run(400.0)
    assert w.disp.mode("c") is Mode.PATROL
    assert w.disp.plan is not None and {a.robot_id for a in w.disp.plan.assignments} == {"a", "b", "c"}
    w.run(1500.0)
    late = [iv for t, iv, _ in w.disp.monitor.intervals() if t > 1000.0]
    assert max(late) <= LOOP / 3 * 1.05


def visits_after(w: World, robot: str, t: float) -> int:
    return sum(1 for at, _ in w.fleet.robots[robot].visits if at > t)


def run_until_it_stands(w: World, robot: str) -> None:
    """Run until `robot` has driven all the released nodes it holds (at most 120 s)."""
    limit = w.t + 120.0
    while w.fleet.robots[robot].queue and w.t < limit:
        w.run(w.t + 0.25)
    assert not w.fleet.robots[robot].queue, f"{robot} should stand at its base end"


def lost_update(w: World, robot: str) -> bool:
    """The last order sent to `robot` is not the one it holds."""
    r = w.fleet.robots[robot]
    last = [o for rid, o in w.fleet.orders if rid == robot][-1]
    return (last.order_id, last.order_update_id) != (r.rules.order_id, r.rules.order_update_id)


def test_after_a_broker_restart_the_books_follow_the_robots_state_not_the_view_from_before() -> None:
    # The broker restart (issue #6): updates sent to c while its link was down are lost, though the
    # dispatcher booked them; then its last will arrives; after the restart the first view of c is the
    # retained `connection` message with c's state from before the outage, while c itself has not
    # subscribed yet (anything sent on that view is lost too). c stands at the end of the base it holds,
    # with its horizon left. It must be resynchronised from its own next state and drive again.
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)})
    w.run(300.0)
    c = w.fleet.robots["c"]
    c.deaf = True
    run_until_it_stands(w, "c")  # it drives the base it holds; the top-ups sent meanwhile are lost
    assert c.rules.nodes, "c should have its horizon left"
    assert lost_update(w, "c")
    before = w.fleet.status("c")
    w.disp.update(before, w.t)
    w.offline.add("c")
    w.disp.offline("c", w.t)  # its last will
    w.run(w.t + 10.0)
    w.disp.update(before, w.t)  # the retained view from before the outage; c is still unreachable
    w.run(w.t + 5.0)
    c.deaf = False
    w.offline.discard("c")
    back = w.t
    w.run(back + 60.0)
    assert w.disp.mode("c") is Mode.PATROL, w.disp.order_view("c")
    assert visits_after(w, "c", back) > 0, w.disp.order_view("c")
    w.run(1500.0)
    late = [iv for t, iv, _ in w.disp.monitor.intervals() if t > 1000.0]
    assert max(late) <= LOOP / 3 * 1.05


def test_an_incident_goes_to_a_robot_back_from_an_outage_with_an_order_it_accepts() -> None:
    # back from an outage it is still driving the base it held (books taken from its first state since):
    # the incident order stitches where that base really ends; before that state it is no candidate
    w = make_world(grid(5, 4), {"a": (0, 100.0)})
    w.run(100.0)
    a = w.fleet.robots["a"]
    a.deaf = True
    w.run(w.t + 3.0)
    before = w.fleet.status("a")
    w.disp.update(before, w.t)
    w.offline.add("a")
    w.disp.offline("a", w.t)
    w.disp.update(before, w.t)  # the retained view from before: not yet a candidate
    assert w.disp.dispatch_incident(Incident("inc-1", 19, "smoke"), w.t) is None
    assert w.disp.waiting_incidents() == ["inc-1"]
    a.deaf = False
    w.offline.discard("a")
    w.run(w.t + 0.25)  # its first state since: now a candidate, and the waiting incident goes to it
    assert a.queue, "a should still be driving the base it held"
    assert w.disp.mode("a") is Mode.INCIDENT and w.disp.waiting_incidents() == []
    w.run(w.t + 200.0)  # World.run fails on any refused order
    assert [(r.incident_id, r.ok) for r in w.reports] == [("inc-1", True)]
    assert w.disp.mode("a") is Mode.PATROL


def test_a_lost_incident_order_goes_again_from_where_the_robot_stands() -> None:
    # the incident order never reached it: it drives the patrol base it holds and stands there
    w = make_world(grid(5, 4), {"a": (0, 100.0)})
    w.run(100.0)
    a = w.fleet.robots["a"]
    a.deaf = True
    choice = w.disp.dispatch_incident(Incident("inc-1", 19, "smoke"), w.t)
    assert choice is not None and choice.robot_id == "a"
    run_until_it_stands(w, "a")
    a.deaf = False
    w.run(w.t + 200.0)
    assert [(r.incident_id, r.ok) for r in w.reports] == [("inc-1", True)]
    assert w.disp.resyncs >= 1
    assert w.disp.mode("a") is Mode.PATROL


def test_a_lost_charger_order_goes_again_from_where_the_robot_stands() -> None:
    battery = BatteryPolicy(reserve_pct=15.0, resume_pct=90.0, margin=1.2)
    w = make_world(grid(5, 4), {"a": (0, 100.0), "low": (12, 100.0)}, chargers=[19], battery=battery)
    low = w.fleet.robots["low"]
    low.battery = 12.0  # low once on the patrol (standing by at 12 %, it would have docked at once)
    low.deaf = True  # it holds its first patrol order; the charger order sent on its next state is lost
    run_until_it_stands(w, "low")
    assert w.disp.mode("low") is Mode.TO_CHARGER
    low.deaf = False
    modes = []
    while w.t < 300.0 and Mode.CHARGING not in modes:
        w.run(w.t + 1.0)
        modes.append(w.disp.mode("low"))
    assert Mode.CHARGING in modes and low.node == 19
    assert w.disp.resyncs >= 1


def test_a_robot_standing_on_an_update_it_never_got_is_resynchronised() -> None:
    # updates lost without the link ever being reported down (a broker restart shorter than the offline
    # timeout): c stands at its base end while the books say more is released
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (7, 100.0), "c": (14, 100.0)})
    w.run(300.0)
    c = w.fleet.robots["c"]
    c.deaf = True
    run_until_it_stands(w, "c")
    assert lost_update(w, "c")
    c.deaf = False
    back = w.t
    w.run(back + 60.0)
    assert w.disp.mode("c") is Mode.PATROL, w.disp.order_view("c")
    assert visits_after(w, "c", back) > 0, w.disp.order_view("c")
    assert w.disp.resyncs >= 1  # (once more for each resync order sent while it was still deaf)
    w.run(1500.0)
    late = [iv for t, iv, _ in w.disp.monitor.intervals() if t > 1000.0]
    assert max(late) <= LOOP / 3 * 1.05


def test_bad_input_is_logged_and_ignored() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0)})
    w.run(20.0)
    status = w.fleet.status("a")
    w.disp.update(type(status)("a", status.order_id, 999, 0, 50.0), w.t)  # a node not on the graph
    assert w.disp.ignored_states == 1
    w.disp.update(type(status)("ghost", "x", 0, 0, 50.0), w.t)  # an unregistered robot
    assert w.disp.dispatch_incident(Incident("inc-x", "nowhere"), w.t) is None
    w.run(60.0)
    assert w.disp.mode("a") is Mode.PATROL


def test_pause_and_resume_send_instant_actions() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0)})
    w.run(10.0)
    w.disp.pause(w.t)
    node = w.fleet.robots["a"].node
    w.run(30.0)
    assert w.fleet.robots["a"].node == node
    w.disp.resume(w.t)
    w.run(60.0)
    sent = [a.action_type for _, m in w.fleet.instant for a in m.actions]
    assert sent == ["startPause", "stopPause"]
    assert w.fleet.robots["a"].node != node


def test_a_held_patrol_still_answers_an_alarm() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (10, 100.0)})
    w.run(60.0)
    w.disp.pause(w.t)
    w.run(w.t + 5.0)
    held = {rid: r.node for rid, r in w.fleet.robots.items()}
    choice = w.disp.dispatch_incident(Incident("inc-8", 19, "smoke"), w.t)
    assert choice is not None
    other = ({"a", "b"} - {choice.robot_id}).pop()
    w.run(w.t + 120.0)
    assert [(r.robot_id, r.outcome) for r in w.reports] == [(choice.robot_id, "done")]
    assert w.fleet.robots[other].node == held[other], "the rest of the patrol holds"
    assert w.disp.mode(choice.robot_id) is Mode.PATROL and w.fleet.robots[choice.robot_id].paused, \
        "back on the held patrol, it holds too"
    by_robot = [(rid, a.action_type) for rid, m in w.fleet.instant for a in m.actions]
    assert by_robot[:2] == [("a", "startPause"), ("b", "startPause")]
    assert (choice.robot_id, "stopPause") in by_robot
    w.disp.resume(w.t)
    w.run(w.t + 60.0)
    assert w.fleet.robots[other].node != held[other] and not w.fleet.robots[choice.robot_id].paused


def test_with_no_patrol_an_alarm_still_sends_the_nearest_dog_which_then_goes_home() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (19, 100.0)}, chargers=[4, 15], start=False)
    w.run(10.0)
    assert not w.fleet.orders, "no plan runs: the dogs stand by"
    choice = w.disp.dispatch_incident(Incident("inc-8", 18, "fence"), w.t)
    assert choice is not None and choice.robot_id == "b", "the nearest dog goes"
    w.run(w.t + 120.0)
    assert [(r.incident_id, r.robot_id, r.outcome) for r in w.reports] == [("inc-8", "b", "done")]
    w.run(w.t + 120.0)
    # back to the nearer free charger with charge enough: it stands by there, not charging
    assert w.fleet.robots["b"].node == 15 and w.disp.mode("b") is Mode.IDLE
    assert not any(m.actions[0].action_type == "startCharging" for _, m in w.fleet.instant)
    assert w.disp.mode("a") is Mode.IDLE and w.fleet.robots["a"].node == 0, "the other dog did not move"
    # a plan starts later: both dogs patrol from where they stand
    plan = w.disp.switch_plan(w.disp.planner, w.t)
    assert plan is not None and {x.robot_id for x in plan.assignments} == {"a", "b"}
    w.run(w.t + 600.0)
    assert max(w.intervals(since=w.t - 200.0)) <= LOOP / 2 * 1.05


def test_an_incident_outlives_the_end_of_the_patrol() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (10, 100.0)})
    w.run(100.0)
    choice = w.disp.dispatch_incident(Incident("inc-9", 19, "smoke"), w.t)
    assert choice is not None
    w.run(w.t + 2.0)
    w.disp.cancel(w.t)  # the night plan ends at 06:00
    other = "a" if choice.robot_id == "b" else "b"
    assert w.disp.mode(other) is Mode.IDLE and w.disp.mode(choice.robot_id) is Mode.INCIDENT
    w.run(w.t + 150.0)
    assert [(r.incident_id, r.robot_id, r.outcome) for r in w.reports] == [("inc-9", choice.robot_id, "done")]
    assert w.disp.mode(choice.robot_id) is Mode.IDLE and not w.disp.patrolling
    assert w.fleet.robots[choice.robot_id].node == 19, "no charger on this map: it stands by at the scene"


def test_a_dog_standing_by_docks_to_charge_when_it_could_not_answer_an_alarm_anywhere() -> None:
    # grid(5, 4), 10 m edges, charger at 0: from 18 an alarm at 4 or 19 and on to the charger is 80 m,
    # 80 m x 0.02 %/m x 1.2 = 1.9 % on top of the 15 % reserve
    w = make_world(grid(5, 4), {"ok": (19, 30.0), "low": (18, 16.5)}, chargers=[0], start=False)
    w.run(200.0)
    assert w.fleet.robots["ok"].node == 19 and w.disp.mode("ok") is Mode.IDLE, "charge enough: it stands by"
    assert w.fleet.robots["low"].node == 0, "the low one docked"
    assert [m.actions[0].action_type for rid, m in w.fleet.instant if rid == "low"] == [
        "startCharging", "stopCharging"]
    assert w.disp.mode("low") is Mode.IDLE and w.fleet.robots["low"].battery >= 90.0
    # charged, it answers from its dock: an alarm next to it sends it
    choice = w.disp.dispatch_incident(Incident("inc-10", 1, "door"), w.t)
    assert choice is not None and choice.robot_id == "low"


def test_a_docked_dog_keeps_its_charger_and_makes_way_only_for_a_dog_that_needs_the_charge() -> None:
    w = make_world(grid(5, 4), {"a": (1, 100.0), "b": (19, 100.0)}, chargers=[0], start=False)
    w.run(5.0)
    assert w.disp.dispatch_incident(Incident("inc-11", 1, "door"), w.t).robot_id == "a"  # type: ignore[union-attr]
    w.run(w.t + 60.0)
    assert w.fleet.robots["a"].node == 0 and w.disp.mode("a") is Mode.IDLE, "a docked after its incident"
    assert w.disp.dispatch_incident(Incident("inc-12", 18, "fence"), w.t).robot_id == "b"  # type: ignore[union-attr]
    w.run(w.t + 60.0)
    assert [(r.robot_id, r.outcome) for r in w.reports] == [("a", "done"), ("b", "done")]
    assert w.fleet.robots["b"].node == 18 and w.fleet.robots["a"].node == 0, "the only charger is a's: b stays"
    w.fleet.robots["b"].battery = 16.0  # now b could not answer an alarm at the far end: it needs the charge
    w.run(w.t + 120.0)
    assert w.fleet.robots["b"].node == 0 and w.disp.mode("b") in (Mode.CHARGING, Mode.IDLE)
    assert w.fleet.robots["a"].node in (1, 5) and w.disp.mode("a") is Mode.IDLE, "a made way next to it"
    assert [o.order_id.split("-")[0] for rid, o in w.fleet.orders if rid == "a"][-1] == "standby"


def test_a_hold_outlives_a_time_with_no_plan_running() -> None:
    w = make_world(grid(5, 4), {"a": (0, 100.0), "b": (10, 100.0)})
    w.run(50.0)
    w.disp.pause(w.t)
    w.disp.cancel(w.t)  # the plan ends while the patrol is held
    w.run(w.t + 10.0)
    w.fleet.instant.clear()
    w.disp.switch_plan(w.disp.planner, w.t)  # the next plan starts held
    assert sorted((rid, m.actions[0].action_type) for rid, m in w.fleet.instant) == [
        ("a", "startPause"), ("b", "startPause")]
