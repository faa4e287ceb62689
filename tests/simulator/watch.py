"""A recording MQTT subscriber for simulator tests: keeps every message, waits for conditions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from patrol.broker import BrokerEndpoint


@dataclass
class Watch:
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, suffix: str) -> list[Any]:
        """JSON payloads of the messages whose topic ends with `suffix`."""
        out = []
        for topic, payload, _ in self.messages:
            if topic.endswith(suffix):
                try:
                    out.append(json.loads(payload))
                except ValueError:
                    out.append(payload.decode())
        return out

    def add(self, topic: str, payload: bytes, retain: bool) -> None:
        self.messages.append((topic, payload, retain))
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait(self, predicate: Callable[[Watch], Any], limit: float = 10.0) -> None:
        async with asyncio.timeout(limit):
            while not predicate(self):
                await self._changed.wait()


@contextlib.asynccontextmanager
async def watching(broker: BrokerEndpoint, topic: str) -> AsyncIterator[tuple[aiomqtt.Client, Watch]]:
    watch = Watch()
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for m in client.messages:
                raw = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                watch.add(m.topic.value, raw, m.retain)
        task = asyncio.create_task(pump())
        try:
            yield client, watch
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
