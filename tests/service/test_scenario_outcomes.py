"""Shipped simulator scenarios against the real service: the expected outcome happens in the service.

Service and simulator share one scaled clock set to the scenario's own start time (a night in
March), so zone arming, schedules and timeouts behave as they would that night.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from maps import load_park, sample_park_path
from patrol.alarms.service import AlarmFilter
from patrol.broker import BrokerEndpoint
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import Simulation
from simulator.scenario import load_scenario
from tests.support import register_robots, running_service, service_settings

SPEED = 10.0


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
        assert sim.events.of_kind("sensor"), "the intruder tripped sensors"
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
