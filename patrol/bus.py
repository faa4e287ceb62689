"""The service's MQTT bus: paho-mqtt's protocol engine driven by the asyncio event loop.

Why paho and not aiomqtt here: this is the hot ingest path, and paho's packet parser is the
cheapest in Python. Its socket I/O runs on the event loop thread (`add_reader`/`add_writer`,
`loop_read`/`loop_write`, a `loop_misc` tick for keepalive), not in paho's own network thread:
a second thread made the two hand the GIL over for every batch, and each of paho's ~4 `recv`
calls per message released it. `bus_client.LoopClient` reads the socket in large chunks, so one
readable event yields many messages for one system call, and parses whole QoS 0/1 PUBLISH packets
straight from that chunk (paho handles every other packet from the same buffer).

Connecting never blocks the loop: the TCP connect and TLS handshake run in a worker thread and the
connected socket is handed to paho on the loop thread. When the broker goes away the bus
reconnects with backoff (1 s doubling to 30 s). The session is persistent (clean_session false,
fixed client id), the last will marks the service `offline` on `parkpatrol/available` and each
connect publishes `online` (retained).

Back-pressure: received messages go to a bounded buffer that `run()` drains in batches, calling
the handlers registered per topic filter. When the buffer is full the bus stops reading the socket
until `run()` has drained it to half; the broker holds the messages meanwhile (our persistent
session queues QoS 1; Mosquitto counts what it drops of QoS 0 beyond its own queue limits). The
bus itself drops nothing; each pause is counted (`read_pauses`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
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
from patrol.bus_client import LoopClient

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None] | None]

RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0


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
    dropped_overflow: int = 0  # stays 0: a full buffer pauses reading instead (kept for the metrics' shape)
    read_pauses: int = 0
    published: int = 0
    publish_failures: int = 0
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0

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
    read_batch: int = 1_000  # most messages parsed per readable event before the loop runs other tasks
    connect_timeout_s: float = 10.0  # TCP connect + TLS handshake, and then again for the CONNACK
    stats: BusStats = field(default_factory=BusStats)
    _subs: list[_Subscription] = field(default_factory=list)
    _route_cache: dict[str, tuple[Handler, ...]] = field(default_factory=dict)
    _buffer: deque[tuple[str, bytes]] = field(default_factory=deque)
    _client: LoopClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None
    _wakeup: asyncio.Event | None = None
    _up: asyncio.Event | None = None  # CONNACK accepted and not lost since
    _lost: asyncio.Event | None = None  # the socket closed
    _sock: Any = None  # the socket registered with the loop (plain or TLS)
    _reading: bool = False
    _paused: bool = False
    _conn_task: asyncio.Task[None] | None = None
    _closing: bool = False
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
        return self._up is not None and self._up.is_set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wakeup, self._up, self._lost = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._closing = False
        c = LoopClient(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                       protocol=mqtt.MQTTv311)
        if self.username:
            c.username_pw_set(self.username, self.password)
        c.will_set(topics.SERVICE_AVAILABLE, b"offline", qos=1, retain=True)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        # host/port/keepalive for paho's CONNECT; the socket itself comes from `_open_socket`
        c.connect_async(self.address.host, self.address.port, keepalive=self.keepalive_s)
        self._client = c
        self._conn_task = asyncio.create_task(self._connection(c), name="mqtt-bus-connection")

    async def stop(self) -> None:
        self._closing = True
        c, self._client = self._client, None
        task, self._conn_task = self._conn_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if c is None:
            return
        try:
            if self.connected:
                acked = asyncio.Event()
                info = c.publish(topics.SERVICE_AVAILABLE, b"offline", qos=1, retain=True)
                c.on_publish = lambda client, userdata, mid, reason, props: (
                    acked.set() if mid == info.mid else None)
                if not info.is_published():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(2.0):
                            await acked.wait()
                assert self._lost is not None
                self._lost.clear()
                c.disconnect()  # DISCONNECT is written by the writer callback; paho then closes the socket
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._lost.wait()
        finally:
            self._close_socket(c)
            if self._up is not None:
                self._up.clear()
            self.connected_since = None

    async def __aenter__(self) -> MqttBus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_connected(self, within_s: float) -> bool:
        if self._up is None:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._up.wait()
        return self._up.is_set()

    # -- connection (event loop) -----------------------------------------------------------
    def _open_socket(self) -> socket.socket | ssl.SSLSocket:
        """Blocking TCP connect and TLS handshake; runs in a worker thread."""
        sock = socket.create_connection((self.address.host, self.address.port), timeout=self.connect_timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.address.tls or self.tls:
                files = self.tls or TlsFiles()
                ctx = ssl.create_default_context(cafile=str(files.ca_file) if files.ca_file else None)
                if files.cert_file:
                    ctx.load_cert_chain(str(files.cert_file), str(files.key_file) if files.key_file else None)
                tls = ctx.wrap_socket(sock, server_hostname=self.address.host, do_handshake_on_connect=False)
                tls.do_handshake()
                return tls
            return sock
        except BaseException:
            sock.close()
            raise

    async def _connection(self, c: LoopClient) -> None:
        """Connect, keep alive, reconnect with backoff; owned by the bus from start to stop."""
        assert self._up is not None and self._lost is not None
        delay = RECONNECT_MIN_S
        while not self._closing:
            self._lost.clear()
            try:
                sock = await asyncio.to_thread(self._open_socket)
            except (OSError, ValueError) as err:
                self.stats.connect_failures += 1
                self.last_error = f"cannot reach broker {self.address.host}:{self.address.port}: {err}"
                log.warning("%s; retrying in %.0f s", self.last_error, delay)
            else:
                c.use_socket(sock)
                try:
                    c.reconnect()  # paho takes the socket, sends CONNECT (written by the writer callback)
                except (OSError, ConnectionError) as err:
                    self.last_error = f"connect to broker failed: {err}"
                    log.warning("%s", self.last_error)
                    self._close_socket(c)
                else:
                    await self._keep_alive(c)
                    if self._up.is_set():
                        delay = RECONNECT_MIN_S  # the connection was up: start the backoff afresh
                    self._up.clear()
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(RECONNECT_MAX_S, delay * 2)

    async def _keep_alive(self, c: LoopClient) -> None:
        """Tick paho's keepalive until the socket closes; give up on a CONNACK that never comes."""
        assert self._up is not None and self._lost is not None
        opened = time.monotonic()
        tick = min(1.0, self.keepalive_s / 4) if self.keepalive_s > 0 else 1.0
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await self._lost.wait()
            if self._lost.is_set():
                return
            if not self._up.is_set() and time.monotonic() - opened > self.connect_timeout_s:
                self.last_error = f"broker sent no CONNACK within {self.connect_timeout_s:.0f} s"
                log.warning("%s; reconnecting", self.last_error)
                sock = c.socket()
                if isinstance(sock, socket.socket):  # paho reads the end of stream and closes the socket itself
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._lost.wait()
                if not self._lost.is_set():
                    self._close_socket(c)
                return
            c.loop_misc()

    def _close_socket(self, c: LoopClient) -> None:
        """Close paho's socket from our side (stopping, or paho did not close it itself); paho's
        next `reconnect` closes its stale reference again, harmlessly."""
        sock = c.socket()
        self._unwatch()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        c.reset_rx()
        if self._lost is not None:
            self._lost.set()

    def _unwatch(self) -> None:
        loop, sock = self._loop, self._sock
        self._sock, self._reading, self._paused = None, False, False
        if loop is not None and sock is not None and not loop.is_closed():
            with contextlib.suppress(ValueError, OSError):  # fd already closed
                loop.remove_reader(sock)
                loop.remove_writer(sock)

    # -- paho socket callbacks (event loop thread) -----------------------------------------
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._unwatch()
        self._sock = sock
        self._paused = False
        self._resume_reading()

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # only the current socket: paho's `reconnect` also "closes" a stale one we closed ourselves
        if sock is self._sock:
            self._unwatch()
            if self._lost is not None:
                self._lost.set()

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is self._sock:
            self._loop.add_writer(sock, self._on_writable)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and sock is self._sock and sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(sock)

    def _on_writable(self) -> None:
        c = self._client
        if c is not None:
            c.loop_write()

    def _on_readable(self) -> None:
        """Parse up to `read_batch` messages from the socket; stop early when it has nothing more.

        Whole PUBLISH packets already read go the short way (`LoopClient.take_publishes`); paho's own
        `loop_read` handles everything else and fetches the next chunk from the socket."""
        c = self._client
        if c is None or self._paused:
            return
        budget = self.read_batch
        while budget > 0:
            budget -= c.take_publishes(self._on_publish, budget)
            if self._paused or budget <= 0:
                break
            c.rx_exhausted = False
            if c.loop_read() != mqtt.MQTT_ERR_SUCCESS or c.socket() is None or c.rx_exhausted or self._paused:
                return
            budget -= 1
        if c.rx_buffered and self._loop is not None:
            self._loop.call_soon(self._on_readable)  # bytes already read wake no reader: come back after others ran

    def _pause_reading(self) -> None:
        self._paused = True
        self.stats.read_pauses += 1
        if self._reading and self._loop is not None and self._sock is not None:
            self._reading = False
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._sock)
        log.warning("ingest buffer full (%d messages): reading paused, the broker holds the rest", len(self._buffer))

    def _resume_reading(self) -> None:
        self._paused = False
        if not self._reading and self._loop is not None and self._sock is not None:
            self._reading = True
            self._loop.add_reader(self._sock, self._on_readable)
            self._loop.call_soon(self._on_readable)  # bytes buffered before the pause

    # -- paho protocol callbacks (event loop thread) ---------------------------------------
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
        if self._up is not None:
            self._up.set()
        log.info("connected to broker %s:%d (session present: %s)", self.address.host, self.address.port,
                 getattr(flags, "session_present", None))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was_up = self.connected
        if self._up is not None:
            self._up.clear()
        self.connected_since = None
        if not self._closing and was_up:
            self.stats.disconnects += 1
            self.last_error = f"disconnected: {reason}"
            log.warning("broker connection lost (%s); reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload = msg.payload  # bytes in practice (paho types it bytes | bytearray)
        self._on_publish(msg.topic, payload if type(payload) is bytes else bytes(payload))

    def _on_publish(self, topic: str, payload: bytes) -> bool:
        """Buffer one message for the dispatcher; False once the buffer is full (reading pauses)."""
        buf = self._buffer
        buf.append((topic, payload))
        self.stats.received += 1
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.is_set():
            wakeup.set()
        if len(buf) >= self.buffer_size and not self._paused:
            self._pause_reading()
        return not self._paused

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
        wakeup = self._wakeup
        buf = self._buffer
        while True:
            if not buf:
                wakeup.clear()
                await wakeup.wait()
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
            if self._paused and len(buf) <= self.buffer_size // 2:
                self._resume_reading()
            await asyncio.sleep(0)  # let the reader parse more while we were busy

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message; paho delivers it (QoS 1 messages are retried after reconnects)."""
        self.publish_nowait(topic, payload, qos=qos, retain=retain)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """`publish` for synchronous callers: paho's publish only queues, it never blocks. From a thread
        other than the event loop's, the publish is handed to the loop (errors are then only counted)."""
        c = self._client
        if c is None:
            self.stats.publish_failures += 1
            raise ConnectionError("MQTT bus is not started")
        if threading.get_ident() != self._loop_thread and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._publish_counted, topic, payload, qos, retain)
            except RuntimeError as err:  # the loop has closed
                self.stats.publish_failures += 1
                raise ConnectionError("MQTT bus is not running") from err
            return
        self._publish(c, topic, payload, qos, retain)

    def _publish_counted(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        c = self._client
        if c is None:
            self.stats.publish_failures += 1
            log.error("publish to %s from another thread: the MQTT bus has stopped", topic)
            return
        try:
            self._publish(c, topic, payload, qos, retain)  # counts its own failures
        except ConnectionError as err:
            log.error("publish from another thread failed: %s", err)

    def _publish(self, c: mqtt.Client, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        info = c.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.stats.publish_failures += 1
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.stats.published += 1
