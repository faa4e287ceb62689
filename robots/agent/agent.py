"""`RobotAgent`: a robot's VDA 5050 presence on MQTT, in front of a vendor `Driver`.

    agent = RobotAgent(driver, AgentConfig(manufacturer="Acme", serial_number="dog-1", host=..., port=...))
    async with agent.running():      # connected, ONLINE, factsheet and first state published
        ...
    # leaving the block publishes OFFLINE and disconnects cleanly

The MQTT connection has a last will (`connection` = CONNECTIONBROKEN, QoS 1, retained). The reconnect
loop sits outside the client, as aiomqtt recommends; order execution goes on while the broker is away
(the spec: a disconnected robot completes its order up to the last released node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiomqtt

from robots.agent.config import AgentConfig
from robots.agent.core import AgentCore
from robots.agent.driver import Driver
from robots.clock import Clock, WallClock
from robots.vda5050.base import VdaModel
from robots.vda5050.state import ConnectionState
from robots.vda5050.topics import VdaTopic, robot_subscriptions

log = logging.getLogger(__name__)


class RobotAgent:
    """Runs one robot: MQTT connection, last will, reports, orders and instant actions.

    Cheap enough to run many in one process (one MQTT connection and four small tasks each).
    """

    def __init__(self, driver: Driver, config: AgentConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.core = AgentCore(driver, config, clock or WallClock(), self._publish)
        self._client: aiomqtt.Client | None = None
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0
        self.published = 0
        self.dropped = 0

    @property
    def driver(self) -> Driver:
        return self.core.driver

    async def _publish(self, topic: VdaTopic, message: VdaModel) -> None:
        client = self._client
        if client is None:
            self.dropped += 1
            return
        t = self.core.topic(topic)
        try:
            await client.publish(str(t), message.to_json(), qos=t.qos, retain=t.retain)
            self.published += 1
        except aiomqtt.MqttError as exc:
            self.dropped += 1
            log.debug("%s: publish on %s failed: %s", self.config.robot, t, exc)

    def _client_for(self) -> aiomqtt.Client:
        c = self.config
        will = aiomqtt.Will(str(self.core.topic(VdaTopic.CONNECTION)),
                            self.core.build_connection(ConnectionState.CONNECTIONBROKEN).to_json(),
                            qos=1, retain=True)
        return aiomqtt.Client(
            c.host, c.port, username=c.username, password=c.password, identifier=c.mqtt_client_id,
            will=will, keepalive=c.keepalive, tls_context=c.tls.context() if c.tls else None,
            clean_session=True,
        )

    def stop(self) -> None:
        """Ask `run()` to publish OFFLINE, disconnect and return."""
        self._stop.set()

    async def run(self) -> None:
        """Connect (and reconnect) until `stop()`; order execution runs throughout."""
        async with asyncio.TaskGroup() as tg:
            core = tg.create_task(self.core.run(), name=f"core-{self.config.serial_number}")
            try:
                await self._connection_loop()
            finally:
                core.cancel()

    @contextlib.asynccontextmanager
    async def running(self, connect_timeout: float = 10.0) -> AsyncIterator[RobotAgent]:
        """Run in the background; yields once connected; stops cleanly (OFFLINE) on exit."""
        task = asyncio.create_task(self.run(), name=f"agent-{self.config.serial_number}")
        try:
            waiter = asyncio.ensure_future(self.connected.wait())
            done, _ = await asyncio.wait({waiter, task}, timeout=connect_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task in done:
                task.result()
            if waiter not in done:
                raise TimeoutError(f"robot {self.config.robot} did not connect to "
                                   f"{self.config.host}:{self.config.port} within {connect_timeout} s")
            yield self
        finally:
            self.stop()
            try:
                async with asyncio.timeout(10.0):
                    await task
            except TimeoutError:
                log.warning("%s: agent did not stop in time; cancelling", self.config.robot)

    async def _connection_loop(self) -> None:
        delay = self.config.reconnect_min
        while not self._stop.is_set():
            try:
                async with self._client_for() as client:
                    delay = self.config.reconnect_min
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                log.info("%s: broker connection lost/refused: %s; retrying in %.1f s",
                         self.config.robot, exc, delay)
            finally:
                self._client = None
                self.connected.clear()
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # real seconds: the broker is real
                    await self._stop.wait()
            delay = min(delay * 2, self.config.reconnect_max)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        self.connections += 1
        await client.subscribe(robot_subscriptions(self.config.robot, self.config.interface))
        await self._publish(VdaTopic.CONNECTION, self.core.build_connection(ConnectionState.ONLINE))
        await self.core.publish_factsheet()
        await self.core.publish_state()
        self.connected.set()
        consume = asyncio.ensure_future(self._consume(client))
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({consume, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(1.0):
                    await self._say_offline(client)
            raise
        finally:
            stopping.cancel()
            if not consume.done():
                consume.cancel()
                await asyncio.wait({consume})
        if consume.done() and not consume.cancelled():
            consume.result()  # re-raises the MqttError that ended the session
        await self._say_offline(client)

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        t = self.core.topic(VdaTopic.CONNECTION)
        msg = self.core.build_connection(ConnectionState.OFFLINE)
        await client.publish(str(t), msg.to_json(), qos=t.qos, retain=t.retain)
        self.published += 1

    async def _consume(self, client: aiomqtt.Client) -> None:
        order_topic = str(self.core.topic(VdaTopic.ORDER))
        instant_topic = str(self.core.topic(VdaTopic.INSTANT_ACTIONS))
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode() if payload else b""
            topic = message.topic.value
            try:
                if topic == order_topic:
                    await self.core.handle_order(data)
                elif topic == instant_topic:
                    await self.core.handle_instant_actions(data)
            except Exception:  # never let one message end the robot's session
                log.exception("%s: handling a message on %s failed", self.config.robot, topic)
