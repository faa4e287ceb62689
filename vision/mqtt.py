"""MQTT publisher for vision workers (aiomqtt), with reconnect on the next publish after a failure.

Every aiomqtt call that waits for the broker (connect, publish with QoS 1, subscribe) is wrapped in
`CancelCheck`: on Python 3.11 aiomqtt waits with `asyncio.wait_for`, which returns normally when a
cancel lands just as the broker's answer arrives (CPython gh-86296, fixed in 3.12). The cancellation
is then lost, and a task that loops (heartbeats, the frame loop's status publishing) never ends: a
worker given SIGTERM hung with its event loop idle. `CancelCheck` raises the lost cancellation again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from urllib.parse import urlparse

import aiomqtt

log = logging.getLogger(__name__)


class CancelCheck:
    """Notes the current task's cancel requests; raises `CancelledError` if one came since and was lost.

        with CancelCheck():
            await client.publish(...)   # a cancel swallowed inside surfaces here as CancelledError
    """

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._before = self._task.cancelling() if self._task is not None else 0

    def check(self) -> None:
        if self._task is not None and self._task.cancelling() > self._before:
            raise asyncio.CancelledError("cancelled while an MQTT call completed (the cancel was lost inside it)")

    def __enter__(self) -> CancelCheck:
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None:
            self.check()


def parse_broker(url: str) -> tuple[str, int, str | None, str | None]:
    """(host, port, username, password) of `mqtt://[user:pass@]host[:port]`."""
    u = urlparse(url if "://" in url else f"mqtt://{url}")
    if u.scheme not in ("mqtt", "tcp") or not u.hostname:
        raise ValueError(f"broker URL {url!r}: expected mqtt://host:port")
    return u.hostname, u.port or 1883, u.username, u.password


class MqttPublisher:
    """`async with MqttPublisher("mqtt://host:port") as pub: await pub.publish(...)`."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        self.host, self.port, self.username, self.password = parse_broker(url)
        self.client_id = client_id
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> aiomqtt.Client:
        client = aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                                identifier=self.client_id, timeout=10)
        guard = CancelCheck()
        await client.__aenter__()
        try:
            guard.check()
        except asyncio.CancelledError:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
            raise
        return client

    async def __aenter__(self) -> MqttPublisher:
        self._client = await self._connect()
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError as err:
                log.debug("disconnect: %s", err)

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
            try:
                with CancelCheck():
                    await self._client.publish(topic, payload, qos=qos, retain=retain)
            except aiomqtt.MqttError:
                client, self._client = self._client, None
                try:
                    await client.__aexit__(None, None, None)
                except aiomqtt.MqttError as err:
                    log.debug("disconnect after error: %s", err)
                raise
