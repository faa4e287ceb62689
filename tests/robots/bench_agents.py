"""Cost of many RobotAgents in one process (FakeKinematicDriver, private Mosquitto).

    nice python -m tests.robots.bench_agents 20 10     # agents, seconds

Prints the process CPU share while N idle agents report state at 1 Hz and visualization at 2 Hz.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from patrol.broker import MosquittoProcess
from robots.agent import AgentConfig, RobotAgent
from robots.clock import WallClock
from tests.robots.fakes import FakeKinematicDriver


async def measure(n: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory() as d:
        proc = MosquittoProcess(Path(d))
        ep = proc.start()
        try:
            clock = WallClock()
            agents = [RobotAgent(FakeKinematicDriver(clock), AgentConfig(
                manufacturer="Bench", serial_number=f"r{i}", host=ep.host, port=ep.port, state_interval=1.0,
                visualization_interval=0.5), clock) for i in range(n)]
            tasks = [asyncio.create_task(a.run()) for a in agents]
            await asyncio.gather(*(a.connected.wait() for a in agents))
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            c1, w1 = time.process_time(), time.perf_counter()
            published = sum(a.published for a in agents)
            for a in agents:
                a.stop()
            await asyncio.gather(*tasks)
        finally:
            proc.stop()
    return (f"{n} agents, state 1 Hz + visualization 2 Hz each: CPU {100 * (c1 - c0) / (w1 - w0):.1f}% of one core, "
            f"{published} messages in {w1 - w0:.1f} s")


if __name__ == "__main__":
    print(asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20,
                              float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)))
