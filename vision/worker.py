"""One vision worker of a cluster: its broker connection, membership record, and camera hand-over.

    async with ClusterNode("mqtt://broker:1883", "vision-a", capacity=2) as node, \\
            VisionRuntime([], node, data_dir, worker_id="vision-a", publish_snapshots=True) as runtime:
        await node.run(camera_ids, apply)      # apply(owned) starts/stops cameras; until cancelled

`ClusterNode` is also the runtime's publisher (one connection per worker). Its last will turns the
worker's record `offline`; on a lost connection it reconnects with backoff and announces itself
again. See vision.cluster for the assignment rule and the timing of a take-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import aiomqtt

from vision import topics
from vision.cluster import AssignmentRecord, Membership, WorkerRecord, assign
from vision.mqtt import CancelCheck, parse_broker

log = logging.getLogger(__name__)
Apply = Callable[[set[str]], Awaitable[None]]


class NotConnected(ConnectionError):
    """The worker has no broker connection right now (it is reconnecting)."""


class ClusterNode:
    """Membership of one worker through the broker, and the publisher its runtime uses."""

    def __init__(self, url: str, worker_id: str, capacity: float = 1.0, *, keepalive: int = 10,
                 settle: float = 1.0) -> None:
        if not topics.valid_worker_id(worker_id):
            raise ValueError(f"worker id {worker_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
        if not 0 < capacity <= 10_000:
            raise ValueError(f"capacity must be in (0, 10000], got {capacity}")
        if keepalive < 2:
            raise ValueError(f"keepalive must be at least 2 s, got {keepalive}")
        self.host, self.port, self.username, self.password = parse_broker(url)
        self.worker_id = worker_id
        self.capacity = capacity
        self.keepalive = keepalive
        self.settle = settle
        """Seconds to collect the retained records of the others before the first assignment."""
        self.membership = Membership(ttl=keepalive * 1.5)
        self.started_at = time.time()
        self.owned: set[str] = set()
        self.members: list[str] = []
        self.reconnects = 0
        self._client: aiomqtt.Client | None = None
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._left = False

    # -- records ------------------------------------------------------------------------------------
    def _record(self, state: str) -> bytes:
        rec = WorkerRecord.model_validate({"id": self.worker_id, "state": state, "capacity": self.capacity,
                                           "started_at": self.started_at, "heartbeat": time.time()})
        return rec.model_dump_json().encode()

    def _client_for(self) -> aiomqtt.Client:
        will = aiomqtt.Will(topics.worker(self.worker_id), self._record("offline"), qos=1, retain=True)
        return aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                              identifier=f"parkpatrol-vision-{self.worker_id}", will=will,
                              keepalive=self.keepalive, timeout=10)

    async def _announce(self, client: aiomqtt.Client) -> None:
        await client.subscribe(topics.WORKERS_FILTER, qos=1)
        await client.publish(topics.worker(self.worker_id), self._record("online"), qos=1, retain=True)

    # -- lifecycle ----------------------------------------------------------------------------------
    async def _connect(self) -> aiomqtt.Client:
        """A new connection that has subscribed to the records and announced this worker online."""
        client = self._client_for()
        guard = CancelCheck()
        await client.__aenter__()
        try:
            guard.check()
            with CancelCheck():
                await self._announce(client)
        except BaseException:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
            raise
        return client

    async def __aenter__(self) -> ClusterNode:
        self._client = await self._connect()
        self._connected.set()
        return self

    async def leave(self) -> None:
        """Announce leaving (record `offline`, assignment emptied, both retained) so others take over."""
        client = self._client
        if client is None or self._left:
            return
        self._left = True
        try:
            with CancelCheck():
                await client.publish(topics.assignment(self.worker_id), self._assignment_payload(set(), []),
                                     qos=1, retain=True)
                await client.publish(topics.worker(self.worker_id), self._record("offline"), qos=1, retain=True)
        except aiomqtt.MqttError as err:
            log.warning("vision worker %s: could not publish its leaving: %s", self.worker_id, err)

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.leave()
        client, self._client = self._client, None
        self._connected.clear()
        if client is None:
            return
        try:
            await client.__aexit__(None, None, None)
        except aiomqtt.MqttError as err:
            log.debug("disconnect: %s", err)

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """The runtime's publisher; raises `NotConnected` while reconnecting (the runtime counts it)."""
        client = self._client
        if client is None:
            raise NotConnected(f"vision worker {self.worker_id}: not connected to {self.host}:{self.port}")
        with CancelCheck():
            await client.publish(topic, payload, qos=qos, retain=retain)

    def others_live(self) -> bool:
        return any(w != self.worker_id for w in self.membership.live())

    # -- the loop -----------------------------------------------------------------------------------
    async def run(self, cameras: Sequence[str], apply: Apply) -> None:
        """Keep membership and assignment current until cancelled; reconnect when the broker goes."""
        backoff = 0.5
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._heartbeats())
            tg.create_task(self._rebalance(cameras, apply))
            while True:
                if self._client is None:
                    try:
                        client = await self._connect()
                    except aiomqtt.MqttError as err:
                        log.warning("vision worker %s: broker unreachable (%s); retrying in %.1f s",
                                    self.worker_id, err, backoff)
                        await asyncio.sleep(backoff)
                        backoff = min(10.0, backoff * 2)
                        continue
                    self._client, backoff = client, 0.5
                    self.reconnects += 1
                    self.membership.touch_all(time.monotonic())  # their records arrive again, retained
                    self.members = []  # republish the assignment (a survivor may have cleared it)
                    self._connected.set()
                    log.info("vision worker %s: reconnected to the broker", self.worker_id)
                lost = self._client
                try:
                    await self._receive(lost)
                except aiomqtt.MqttError as err:
                    log.warning("vision worker %s: broker connection lost: %s", self.worker_id, err)
                    self._connected.clear()
                    self._client = None
                    try:
                        with CancelCheck():
                            await lost.__aexit__(None, None, None)
                    except aiomqtt.MqttError as close_err:
                        log.debug("closing the lost connection: %s", close_err)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            raw = msg.payload
            payload = bytes(raw) if isinstance(raw, (bytes, bytearray)) else str(raw or "").encode()
            if self.membership.receive(str(msg.topic), payload, time.monotonic()):
                self._changed.set()

    async def _heartbeats(self) -> None:
        """Every keepalive/2: the record (so others know this worker lives) and the assignment again
        (a survivor that took this worker for dead may have cleared it). Each send is bounded, so a
        dead connection cannot hold up the next heartbeat on a new one."""
        period = self.keepalive / 2
        while True:
            await asyncio.sleep(period)
            client = self._client
            if client is None or self._left:
                continue
            try:
                async with asyncio.timeout(period):
                    with CancelCheck():
                        await client.publish(topics.worker(self.worker_id), self._record("online"), qos=1,
                                         retain=True)
                    if self.members:  # after the first assignment
                        with CancelCheck():
                            await client.publish(topics.assignment(self.worker_id),
                                                 self._assignment_payload(self.owned, self.members), qos=1,
                                                 retain=True)
            except (aiomqtt.MqttError, TimeoutError) as err:
                log.warning("vision worker %s: heartbeat not sent: %s", self.worker_id, err or "timed out")

    async def _rebalance(self, cameras: Sequence[str], apply: Apply) -> None:
        await self._connected.wait()
        await asyncio.sleep(self.settle)
        tick = min(1.0, self.membership.ttl / 4)
        while True:
            self._changed.clear()
            if self._client is None:  # no news while disconnected: keep the last assignment
                await self._connected.wait()
                continue
            self.membership.expire(time.monotonic(), keep=self.worker_id)
            live = self.membership.live()
            live[self.worker_id] = self.capacity  # this worker counts even before its own record echoes
            members = sorted(live)
            mine = {c for c, w in assign(cameras, live).items() if w == self.worker_id}
            if mine != self.owned or members != self.members:
                gone = sorted(set(self.members) - set(members))
                log.info("vision worker %s: members %s, watching %d of %d cameras: %s", self.worker_id,
                         members, len(mine), len(cameras), sorted(mine))
                try:
                    await apply(mine)
                except Exception:
                    log.exception("vision worker %s: applying the assignment failed; retrying", self.worker_id)
                    await asyncio.sleep(tick)
                    continue
                self.owned, self.members = mine, members
                await self._publish_assignment(gone)
            with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can lose a cancel
                async with asyncio.timeout(tick):
                    await self._changed.wait()

    def _assignment_payload(self, cameras: set[str], members: list[str]) -> bytes:
        rec = AssignmentRecord(worker=self.worker_id, cameras=sorted(cameras), members=members, at=time.time())
        return rec.model_dump_json().encode()

    async def _publish_assignment(self, gone: list[str]) -> None:
        client = self._client
        if client is None:
            return
        try:
            with CancelCheck():
                await client.publish(topics.assignment(self.worker_id),
                                     self._assignment_payload(self.owned, self.members), qos=1, retain=True)
                if gone and self.members and self.members[0] == self.worker_id:
                    for wid in gone:  # the lowest live id clears what dead workers left retained
                        await client.publish(topics.assignment(wid), b"", qos=1, retain=True)
        except aiomqtt.MqttError as err:
            log.warning("vision worker %s: assignment not published: %s", self.worker_id, err)
