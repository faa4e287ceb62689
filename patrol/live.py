"""Live updates for console clients: a snapshot first, then deltas coalesced per tick.

Producers call `mark(kind, key, value)` (cheap: a dict assignment). Every `tick_s` the hub sends
each client one message with everything that changed since the last tick, so 10,000 sensor
reports a second become a couple of messages a second per client. Each client has a bounded
queue; a client that cannot keep up is disconnected (counted) and resyncs from a new snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from robots.clock import Clock

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]


@dataclass(eq=False)  # identity-hashed: clients live in a set
class LiveClient:
    queue: asyncio.Queue[bytes]
    dropped: bool = False


@dataclass
class LiveHub:
    snapshot: Snapshot
    clock: Clock
    tick_s: float = 0.5
    client_queue: int = 64
    clients: set[LiveClient] = field(default_factory=set)
    slow_disconnects: int = 0
    ticks_sent: int = 0
    renderers: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    _dirty: dict[str, dict[str, Any]] = field(default_factory=dict)
    _events: list[dict[str, Any]] = field(default_factory=list)

    def mark(self, kind: str, key: str, value: Any) -> None:
        """Record the latest value of `kind`/`key` for the next tick (None means removed).

        Values are rendered for the wire (by `renderers[kind]`, if set) only at flush time,
        so a robot reporting 50 times between ticks costs one rendering, not fifty.
        """
        self._dirty.setdefault(kind, {})[key] = value

    def event(self, item: dict[str, Any]) -> None:
        """A one-off event (alarm raised, detection seen) delivered in order with the next tick."""
        if len(self._events) < 10_000:
            self._events.append(item)

    def connect(self) -> tuple[LiveClient, bytes]:
        client = LiveClient(asyncio.Queue(self.client_queue))
        self.clients.add(client)
        return client, orjson.dumps({"type": "snapshot", "t": self.clock.now(), **self.snapshot()},
                                    option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)

    def disconnect(self, client: LiveClient) -> None:
        self.clients.discard(client)

    def flush(self) -> bytes | None:
        if not self._dirty and not self._events:
            return None
        dirty, self._dirty = self._dirty, {}
        for kind, values in dirty.items():
            render = self.renderers.get(kind)
            if render is not None:
                for key, value in values.items():
                    if value is not None:
                        values[key] = render(value)
        events, self._events = self._events, []
        msg = orjson.dumps({"type": "delta", "t": self.clock.now(), "changes": dirty, "events": events},
                           option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        for client in list(self.clients):
            try:
                client.queue.put_nowait(msg)
            except asyncio.QueueFull:
                client.dropped = True
                self.slow_disconnects += 1
                self.clients.discard(client)
                with contextlib.suppress(asyncio.QueueFull):
                    client.queue.put_nowait(b"")  # wakes the sender, which closes the socket
        self.ticks_sent += 1
        return msg

    async def run(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            try:
                self.flush()
            except Exception:
                log.exception("live tick failed")
