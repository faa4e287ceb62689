"""Every shipped scenario, run twice with one seed on a simulated clock, leaves the same event log
(times, kinds, subjects and data); another seed changes it (sensor heartbeats and radio noise are
seeded in all of them, ambient visitors in some)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maps import load_park, sample_park_path
from patrol.broker import MosquittoProcess, mosquitto_binary
from robots.clock import SimClock
from simulator.mqtt import BrokerSpec
from simulator.runner import Simulation
from simulator.scenario import SCENARIO_NAMES, BrokerRestart, CameraDrop, load_scenario
from tests.conftest import need
from tests.simulator.broker_control import MosquittoRestart

Trace = list[tuple[float, str, str, str]]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto of this test's own: the broker_restart scenario stops and starts it."""
    need(mosquitto_binary() is not None, "mosquitto is not installed (apt-get install mosquitto)")
    proc = MosquittoProcess(data_dir=tmp_path / "mosquitto")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def run_scenario(proc: MosquittoProcess, name: str, seed: int | None = None,
                       seconds: float | None = None) -> tuple[Trace, MosquittoRestart]:
    scenario = load_scenario(name)
    control = MosquittoRestart(proc)
    # camera faults need the camera server (a free port; nothing here reads its streams)
    cameras = any(isinstance(s, CameraDrop) for s in scenario.timeline)
    async with Simulation(load_park(sample_park_path()), BrokerSpec(proc.host, proc.port), clock=SimClock(0.0),
                          scenario=scenario, seed=seed, camera_port=0 if cameras else None,
                          broker_control=control) as sim:
        await sim.run_for(scenario.duration_s if seconds is None else seconds, step=1.0)
    return sim.events.trace(), control


@pytest.mark.parametrize("name", SCENARIO_NAMES)
async def test_same_seed_same_events_other_seed_other_events(mosquitto: MosquittoProcess, name: str) -> None:
    first, control = await run_scenario(mosquitto, name)
    second, _ = await run_scenario(mosquitto, name)
    assert first == second, next((a, b) for a, b in zip(first, second, strict=False) if a != b)
    scenario = load_scenario(name)
    kinds = {kind for _, kind, _, _ in first}
    assert "scenario.step_failed" not in kinds, [e for e in first if e[1] == "scenario.step_failed"]
    assert "sensor.heartbeat" in kinds
    assert first[-1][1] == "sim.stop" and first[-1][0] >= scenario.duration_s
    restarts = sum(isinstance(s, BrokerRestart) for s in scenario.timeline)
    assert (control.stops, control.starts) == (restarts, restarts)
    # another seed: the first 300 s differ already (heartbeat times and radio noise), the script does not
    other, _ = await run_scenario(mosquitto, name, seed=scenario.seed + 1000, seconds=300.0)
    head = [e for e in first if e[0] <= 300.0 and e[1] != "sim.stop"]
    assert [e for e in other if e[1] != "sim.stop"] != head
    scripted = ("fault.", "scenario.", "person.", "sim.robots_online")
    assert [e[:3] for e in other if e[1].startswith(scripted)] == [e[:3] for e in head if e[1].startswith(scripted)] \
        or scenario.ambient.visitors_per_hour > 0 or scenario.ambient.intruders_per_hour > 0
