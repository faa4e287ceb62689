"""The broker_restart step: the sensor bridge and the robots reconnect; nothing queued is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from maps import load_park, test_park_path
from patrol.broker import BrokerEndpoint, MosquittoProcess
from robots.clock import SimClock
from simulator.mqtt import BrokerSpec
from simulator.runner import MANUFACTURER, RobotSpec, Simulation
from simulator.scenario import parse_scenario
from tests.simulator.broker_control import MosquittoRestart
from tests.simulator.watch import watching


@pytest.mark.reliability
async def test_broker_restart_loses_no_sensor_message_and_robots_return(broker: BrokerEndpoint,
                                                                        tmp_path: Path) -> None:
    # `broker` only makes sure Mosquitto is installed (skip, or fail in CI); this test restarts its own
    proc = MosquittoProcess(data_dir=tmp_path / "mq")
    proc.start()
    try:
        park = load_park(test_park_path())
        scenario = parse_scenario(
            'name: restart\nstart: "2026-03-16T20:30:00+08:00"\nduration_s: 60\ntimeline:\n'
            "  - {at: 1, do: broker_restart, down_s: 1.0}\n"
            "  - {at: 2, do: sensor, sensor: door_tp_lab, values: {tamper: true}}\n")
        async with Simulation(park, BrokerSpec(proc.host, proc.port), clock=SimClock(0.0), scenario=scenario,
                              robots=[RobotSpec("dog-01")], camera_port=None,
                              broker_control=(control := MosquittoRestart(proc))) as sim:
            # down at 1 s, back at 2 s; simulated time stands still while the process stops and starts
            await sim.run_for(2.5, step=0.5)
            assert (control.stops, control.starts) == (1, 1)
            async with watching(proc.endpoint, "#") as (_, watch):
                await sim.run_for(1.0, step=0.5)  # tamper: sent or queued while the bridge reconnects
                await watch.wait(lambda w: any(isinstance(m, dict) and m.get("tamper") is True
                                               for m in w.of("zigbee2mqtt/door_tp_lab")), 20)
                await watch.wait(lambda w: any(m.get("connectionState") == "ONLINE"
                                               for m in w.of(f"{MANUFACTURER}/dog-01/connection")), 20)
            assert sim.bridge is not None and sim.bridge.connections >= 2
            assert sim.agents["dog-01"].connections >= 2
        restart = [(e.t, e.kind) for e in sim.events if e.kind.startswith("fault.broker")]
        assert restart == [(1.0, "fault.broker_restart"), (2.0, "fault.broker_back")]
    finally:
        proc.stop()
