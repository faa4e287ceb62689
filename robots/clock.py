"""Clocks: the wall clock, or a simulated one that tests and benchmarks advance at will.

Everything that waits takes a `Clock`, so a 30-minute patrol can run in seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Time source and sleeper."""

    def now(self) -> float:
        """Seconds since the epoch (wall clock) or since the start (simulated)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class WallClock:
    """Real time: `time.time()` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SimClock:
    """Simulated time, advanced explicitly by `advance()` or `run_until()`.

    Sleepers wake in time order; `advance(dt)` moves time forward, waking each sleeper at its
    own deadline and letting the event loop run between wake-ups.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        await fut

    @property
    def next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers in order."""
        await self.run_until(self._now + seconds)

    async def run_until(self, t: float) -> None:
        while True:
            nxt = self.next_deadline
            if nxt is None or nxt > t:
                break
            _, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, nxt)
            if not fut.done():
                fut.set_result(None)
            # let woken tasks run (and possibly schedule new sleeps) before moving on
            for _ in range(3):
                await asyncio.sleep(0)
        self._now = max(self._now, t)
