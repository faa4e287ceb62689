"""The service's MQTT bus: paho-mqtt's network thread feeding an asyncio dispatcher in batches.

Why paho and not aiomqtt here: this is the hot ingest path. A bare paho subscriber takes tens of
thousands of messages per second from a local Mosquitto, several times what an asyncio client
manages in one process. The network thread only appends to a bounded buffer; the event loop
drains it in batches and calls the handlers registered per topic filter.

Back-pressure: when the buffer is full the network thread waits (the broker then holds the
messages for our persistent session) and only after `overflow_wait_s` drops — counted, logged.
The session is persistent (clean_session false, fixed client id), the last will marks the service
`offline` on `parkpatrol/available`, and paho reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from patrol import topics

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None] | None]


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        u = urlparse(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError(f"broker url {url!r}: expected mqtt://host:port or mqtts://host:port")
        tls = u.scheme == "mqtts"
        return cls(u.hostname, u.port or (8883 if tls else 1883), tls)


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass
class BusStats:
    received: int = 0
    handled: int = 0
    handler_errors: int = 0
    dropped_overflow: int = 0
    published: int = 0
    publish_failures: int = 0
    connects: int = 0
    disconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Subscription:
    pattern: str
    qos: int
    handler: Handler


@dataclass
class MqttBus:
    """Connects the service to the broker; see the module docstring."""

    address: BrokerAddress
    client_id: str = "parkpatrol-service"
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    tls: TlsFiles | None = None
    buffer_size: int = 50_000
    batch_size: int = 2_000
    overflow_wait_s: float = 5.0
    idle_poll_s: float = 0.002  # at most this much delay added to a message that finds the dispatcher idle
    stats: BusStats = field(default_factory=BusStats)
    _subs: list[_Subscription] = field(default_factory=list)
    _route_cache: dict[str, tuple[Handler, ...]] = field(default_factory=dict)
    _buffer: deque[tuple[str, bytes]] = field(default_factory=deque)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _client: mqtt.Client | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None
    _connected: threading.Event = field(default_factory=threading.Event)
    _closing: bool = False
    _idle: bool = False  # set by the dispatcher before it waits on `_wakeup`; cleared by whoever wakes it
    last_error: str | None = None
    connected_since: float | None = None

    # -- setup -----------------------------------------------------------------------------
    def subscribe(self, pattern: str, handler: Handler, qos: int = 1) -> None:
        """Route messages matching `pattern` to `handler` (sync or async). Call before `start`."""
        self._subs.append(_Subscription(pattern, qos, handler))
        self._route_cache.clear()
        if self._client is not None and self.connected:
            self._client.subscribe(pattern, max(s.qos for s in self._subs if s.pattern == pattern))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                        protocol=mqtt.MQTTv311)
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.address.tls or self.tls:
            files = self.tls or TlsFiles()
            ctx = ssl.create_default_context(cafile=str(files.ca_file) if files.ca_file else None)
            if files.cert_file:
                ctx.load_cert_chain(str(files.cert_file), str(files.key_file) if files.key_file else None)
            c.tls_set_context(ctx)
        c.will_set(topics.SERVICE_AVAILABLE, b"offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._client = c
        c.connect_async(self.address.host, self.address.port, keepalive=self.keepalive_s)
        c.loop_start()

    async def stop(self) -> None:
        self._closing = True
        c, self._client = self._client, None
        with self._cond:
            self._cond.notify_all()
        if c is None:
            return
        if self.connected:
            info = c.publish(topics.SERVICE_AVAILABLE, b"offline", qos=1, retain=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
        c.disconnect()
        await asyncio.to_thread(c.loop_stop)
        self._connected.clear()

    async def __aenter__(self) -> MqttBus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_connected(self, within_s: float) -> bool:
        return await asyncio.to_thread(self._connected.wait, within_s)

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("%s", self.last_error)
            return
        self.stats.connects += 1
        self.connected_since = time.time()
        self.last_error = None
        if self._subs:
            # one SUBSCRIBE per filter at the highest QoS any handler asked for (a later one would replace it)
            client.subscribe(list({s.pattern: max(t.qos for t in self._subs if t.pattern == s.pattern)
                                   for s in self._subs}.items()))
        client.publish(topics.SERVICE_AVAILABLE, b"online", qos=1, retain=True)
        self._connected.set()
        log.info("connected to broker %s:%d (session present: %s)", self.address.host, self.address.port,
                 getattr(flags, "session_present", None))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()
        self.connected_since = None
        if not self._closing:
            self.stats.disconnects += 1
            self.last_error = f"disconnected: {reason}"
            log.warning("broker connection lost (%s); reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        buf = self._buffer
        if len(buf) >= self.buffer_size:
            with self._cond:
                deadline = time.monotonic() + self.overflow_wait_s
                while len(buf) >= self.buffer_size and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.stats.dropped_overflow += 1
                        if self.stats.dropped_overflow % 1000 == 1:
                            log.error("ingest buffer full for %.0f s: dropped %d messages so far",
                                      self.overflow_wait_s, self.stats.dropped_overflow)
                        return
                    self._cond.wait(left)
        buf.append((msg.topic, bytes(msg.payload)))
        self.stats.received += 1
        if self._idle and self._loop is not None and self._wakeup is not None:
            self._idle = False  # one wake-up per idle spell: each costs a self-pipe write and a GIL hand-over
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(self._wakeup.set)

    # -- dispatch (event loop) -------------------------------------------------------------
    def _handlers_for(self, topic: str) -> tuple[Handler, ...]:
        found = self._route_cache.get(topic)
        if found is None:
            found = tuple(s.handler for s in self._subs if mqtt.topic_matches_sub(s.pattern, topic))
            if len(self._route_cache) > 200_000:
                self._route_cache.clear()
            self._route_cache[topic] = found
        return found

    async def run(self) -> None:
        """Drain the buffer forever, calling handlers; owned by the service's TaskGroup."""
        assert self._wakeup is not None, "start() first"
        buf = self._buffer
        while True:
            if not buf:
                # Let a burst gather before going idle: while messages keep coming the dispatcher polls
                # every `idle_poll_s` and the network thread never has to wake it.
                await asyncio.sleep(self.idle_poll_s)
                if not buf:
                    self._wakeup.clear()
                    self._idle = True  # from here the network thread wakes us (see _on_message)
                    try:
                        if not buf:
                            await self._wakeup.wait()
                    finally:
                        self._idle = False
            n = 0
            routes = self._route_cache
            try:
                while buf and n < self.batch_size:
                    topic, payload = buf.popleft()
                    n += 1
                    handlers = routes.get(topic)
                    for handler in handlers if handlers is not None else self._handlers_for(topic):
                        try:
                            result = handler(topic, payload)
                            if result is not None and inspect.isawaitable(result):  # sync handlers return None
                                await result
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            self.stats.handler_errors += 1
                            log.exception("handler for %s failed", topic)
            finally:
                self.stats.handled += n  # counted per batch: one attribute update instead of one per message
            if n >= self.batch_size // 2:
                with self._cond:
                    self._cond.notify_all()
            await asyncio.sleep(0)

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message; paho delivers it (QoS 1 messages are retried after reconnects)."""
        self.publish_nowait(topic, payload, qos=qos, retain=retain)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """`publish` for synchronous callers: paho's publish only queues, it never blocks."""
        c = self._client
        if c is None:
            self.stats.publish_failures += 1
            raise ConnectionError("MQTT bus is not started")
        info = c.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.stats.publish_failures += 1
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.stats.published += 1
