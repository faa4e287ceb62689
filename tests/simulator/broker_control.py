"""A `simulator.runner.BrokerControl` for a test's own Mosquitto (the `broker_restart` step)."""

from __future__ import annotations

import asyncio

from patrol.broker import MosquittoProcess


class MosquittoRestart:
    """Stops the test's Mosquitto and starts it again on the same port with the same persistence,
    counting both so a test can check the restart really happened."""

    def __init__(self, proc: MosquittoProcess) -> None:
        self.proc = proc
        self.stops = 0
        self.starts = 0

    async def stop(self) -> None:
        await asyncio.to_thread(self.proc.stop)
        self.stops += 1

    async def start(self) -> None:
        await asyncio.to_thread(self.proc.start)
        self.starts += 1
