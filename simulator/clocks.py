"""A wall clock running faster (or slower) than real time, for `parkpatrol sim --speed X`."""

from __future__ import annotations

import asyncio
import time


class ScaledClock:
    """`now()` advances `speed` simulated seconds per real second; `sleep(s)` waits s / speed real seconds."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._real0 = time.monotonic()
        self._t0 = time.time() if start is None else start

    def now(self) -> float:
        return self._t0 + (time.monotonic() - self._real0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
