"""MQTT plumbing of the simulation: broker address and credentials, the sensors' bridge connection,
and a TCP link in front of each robot so a scenario can cut it as a failing radio would.

The robots' own MQTT connections belong to `robots.agent`; the simulator only places a
`LinkProxy` between each agent and the broker. Cutting the proxy aborts both TCP sockets, so
the broker sees the robot vanish without DISCONNECT and publishes its last will.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import aiomqtt

log = logging.getLogger(__name__)

BRIDGE_STATE_TOPIC = "zigbee2mqtt/bridge/state"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BrokerSpec:
    """Where the broker is, and optional credentials per device id (robot serial, `zigbee2mqtt`)."""

    host: str
    port: int
    credentials: Mapping[str, Credentials] = field(default_factory=dict)

    def for_device(self, device_id: str) -> Credentials | None:
        return self.credentials.get(device_id) or self.credentials.get("*")

    @classmethod
    def from_url(cls, url: str, credentials: Mapping[str, Credentials] | None = None) -> BrokerSpec:
        """`mqtt://[user:password@]host[:port]`; user and password apply to every device."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"broker URL {url!r}: expected mqtt://host[:port] (TLS is not simulated)")
        creds = dict(credentials or {})
        if parts.username:
            creds.setdefault("*", Credentials(parts.username, parts.password or ""))
        return cls(parts.hostname, parts.port or 1883, creds)


_STOP = ("", b"", 0, False)
"""Queued by `BridgePublisher.__aexit__`: say offline and disconnect."""


class BridgePublisher:
    """The Zigbee2MQTT bridge's MQTT connection: queues messages, reconnects with backoff.

    Publishes `zigbee2mqtt/bridge/state` online (retained) with an `offline` last will, like
    Zigbee2MQTT. Messages published while the broker is away wait in a bounded queue (oldest
    dropped and counted when full) and go out after the reconnect. On exit it sends what is queued,
    says `offline` itself and disconnects cleanly (cancelling a publish in flight instead lets
    aiomqtt register a writer for a socket it has closed already: an error at every shutdown).
    """

    def __init__(self, broker: BrokerSpec, *, client_id: str = "parkpatrol-sim-zigbee2mqtt",
                 max_queue: int = 50_000, reconnect_max: float = 10.0) -> None:
        self._broker = broker
        self._client_id = client_id
        self._queue: asyncio.Queue[tuple[str, bytes, int, bool]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._reconnect_max = reconnect_max
        self.connected = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self.connections = 0

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
        self._queue.put_nowait((topic, payload, qos, retain))

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the broker (wrap in a timeout)."""
        await self._queue.join()

    async def __aenter__(self) -> BridgePublisher:
        self._task = asyncio.create_task(self._run(), name="sim-zigbee2mqtt-bridge")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.flush()
        if self.connected.is_set() and not self._queue.full():
            self._queue.put_nowait(_STOP)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self._task)
        self._task.cancel()  # not connected, or the broker does not answer: nothing more to lose
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _client(self) -> aiomqtt.Client:
        creds = self._broker.for_device("zigbee2mqtt")
        will = aiomqtt.Will(BRIDGE_STATE_TOPIC, json.dumps({"state": "offline"}), qos=1, retain=True)
        return aiomqtt.Client(self._broker.host, self._broker.port, identifier=self._client_id,
                              username=creds.username if creds else None,
                              password=creds.password if creds else None, will=will, keepalive=30,
                              max_queued_outgoing_messages=0)

    async def _run(self) -> None:
        delay = 0.2
        pending: tuple[str, bytes, int, bool] | None = None
        while True:
            try:
                async with self._client() as client:
                    self.connections += 1
                    delay = 0.2
                    await client.publish(BRIDGE_STATE_TOPIC, json.dumps({"state": "online"}), qos=1, retain=True)
                    self.connected.set()
                    while True:
                        if pending is None:
                            pending = await self._queue.get()
                        if pending is _STOP:
                            self._queue.task_done()
                            await client.publish(BRIDGE_STATE_TOPIC, json.dumps({"state": "offline"}), qos=1,
                                                 retain=True, timeout=2.0)
                            await asyncio.sleep(0)  # aiomqtt's socket callbacks for that publish run first
                            return
                        topic, payload, qos, retain = pending
                        await client.publish(topic, payload, qos=qos, retain=retain, timeout=10.0)
                        pending = None
                        self._queue.task_done()
                        self.sent += 1
            except aiomqtt.MqttError as exc:
                log.info("zigbee2mqtt bridge: broker connection lost/refused (%s); retrying in %.1f s", exc, delay)
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)  # real seconds: the broker is real
            delay = min(delay * 2, self._reconnect_max)


class LinkProxy:
    """A TCP relay between one device and the broker that can be cut (abruptly) and restored."""

    def __init__(self, upstream_host: str, upstream_port: int, *, name: str = "link") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.name = name
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_cut(self) -> bool:
        return self._cut

    async def __aenter__(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._open):
                w.transport.abort()
            for t in list(self._tasks):
                t.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._server = None

    def cut(self) -> None:
        """Abort every open connection (no MQTT DISCONNECT: the broker fires the last will) and refuse new ones."""
        self._cut = True
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        self._cut = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        tasks = [asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
            for w in (writer, up_writer):
                self._open.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
