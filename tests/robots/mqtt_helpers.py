"""A recording MQTT client for robots/ tests: subscribes, keeps every message, waits for predicates."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt


@dataclass
class Recorded:
    topic: str
    payload: bytes
    retain: bool

    @property
    def kind(self) -> str:
        return self.topic.rsplit("/", 1)[-1]

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Recorder:
    client: aiomqtt.Client
    messages: list[Recorded] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.messages if m.kind == kind]

    async def wait_for(self, predicate: Callable[[Recorded], bool], limit: float = 10.0) -> Recorded:
        """The first recorded message (old or new) matching `predicate`."""
        async def scan() -> Recorded:
            seen = 0
            while True:
                ev = self._changed
                for m in self.messages[seen:]:
                    if predicate(m):
                        return m
                seen = len(self.messages)
                await ev.wait()
        return await asyncio.wait_for(scan(), limit)

    async def wait_state(self, predicate: Callable[[dict[str, Any]], bool],
                         limit: float = 10.0) -> dict[str, Any]:
        m = await self.wait_for(lambda r: r.kind == "state" and predicate(r.json()), limit)
        out: dict[str, Any] = m.json()
        return out

    def _add(self, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        self.messages.append(Recorded(message.topic.value, payload, message.retain))
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()


@contextlib.asynccontextmanager
async def recorder(host: str, port: int, topic_filter: str, **client_kwargs: Any) -> AsyncIterator[Recorder]:
    async with aiomqtt.Client(host, port, **client_kwargs) as client:
        rec = Recorder(client)
        await client.subscribe(topic_filter, qos=1)

        async def pump() -> None:
            async for message in client.messages:
                rec._add(message)

        task = asyncio.create_task(pump())
        try:
            yield rec
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
