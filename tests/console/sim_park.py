"""The simulator's park (robots as VDA 5050 agents, Zigbee2MQTT sensors, MJPEG cameras) in its own thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from maps import Park
from patrol.broker import BrokerEndpoint
from robots.clock import WallClock
from simulator.mqtt import BrokerSpec
from simulator.runner import RobotSpec, Simulation

T = TypeVar("T")


class SimulatedPark:
    def __init__(self, sim: Simulation, loop: asyncio.AbstractEventLoop) -> None:
        self.sim = sim
        self.loop = loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def camera_base_url(self) -> str:
        assert self.sim.cameras is not None, "the simulation runs without its camera server"
        return self.sim.cameras.base_url

    def position(self, serial: str) -> tuple[float, float]:
        async def pose() -> tuple[float, float]:
            p = self.sim.drivers[serial].pose()
            return p.x, p.y

        return self.call(pose())


@contextlib.contextmanager
def simulated_park(park: Park, broker: BrokerEndpoint, robots: Sequence[RobotSpec]) -> Iterator[SimulatedPark]:
    ready: list[SimulatedPark] = []
    failed: list[BaseException] = []
    started = threading.Event()
    stopping: list[asyncio.Event] = []

    async def main() -> None:
        try:
            sim = Simulation(park, BrokerSpec(broker.host, broker.port), clock=WallClock(), robots=list(robots),
                             camera_port=0, state_interval=1.0, sensor_heartbeat_s=600.0)
            async with sim:
                stop = asyncio.Event()
                stopping.append(stop)
                ready.append(SimulatedPark(sim, asyncio.get_running_loop()))
                started.set()
                await stop.wait()
        except BaseException as e:  # reported to the test thread
            failed.append(e)
            started.set()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="console-test-sim", daemon=True)
    thread.start()
    try:
        if not started.wait(30) or failed:
            raise RuntimeError(f"the simulation did not start: {failed}")
        yield ready[0]
    finally:
        if ready and stopping:
            ready[0].loop.call_soon_threadsafe(stopping[0].set)
        thread.join(15)
