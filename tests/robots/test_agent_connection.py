"""Agent connection behaviour on a real Mosquitto: last will, reconnect, many agents in one process."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from patrol.broker import BrokerEndpoint
from robots.agent import AgentConfig, RobotAgent
from robots.clock import WallClock
from robots.vda5050.builders import Waypoint, build_order
from robots.vda5050.topics import RobotId, RobotTopic, VdaTopic
from tests.robots.fakes import FakeKinematicDriver
from tests.robots.mqtt_helpers import recorder

MAN = "ParkPatrolConn"


async def test_last_will_and_reconnect(broker: BrokerEndpoint, validate_vda: Callable[[str, Any], None]) -> None:
    serial = f"dog-{uuid.uuid4().hex[:8]}"
    clock = WallClock()
    agent = RobotAgent(FakeKinematicDriver(clock), AgentConfig(
        manufacturer=MAN, serial_number=serial, host=broker.host, port=broker.port, keepalive=5,
        reconnect_min=0.05), clock)
    conn_topic = str(RobotTopic(RobotId(MAN, serial), VdaTopic.CONNECTION))

    def states(rec: Any) -> list[str]:
        return [m.json()["connectionState"] for m in rec.messages if m.topic == conn_topic]

    async with recorder(broker.host, broker.port, conn_topic) as rec, agent.running():
        await rec.wait_for(lambda m: m.topic == conn_topic and m.json()["connectionState"] == "ONLINE")
        # cut the TCP connection under the client, as a network failure would: the broker sends the will
        client = agent._client
        assert client is not None
        sock = client._client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await rec.wait_for(lambda m: states(rec)[-2:] == ["CONNECTIONBROKEN", "ONLINE"])
        assert agent.connections == 2
    await rec.wait_for(lambda m: states(rec)[-1:] == ["OFFLINE"])
    assert states(rec) == ["ONLINE", "CONNECTIONBROKEN", "ONLINE", "OFFLINE"]
    assert all(m.retain is False or m.topic == conn_topic for m in rec.messages)
    for m in rec.messages:
        validate_vda("connection", m.json())
    # the connection message is retained: a late subscriber sees the last one
    async with recorder(broker.host, broker.port, conn_topic) as late:
        m = await late.wait_for(lambda m: m.topic == conn_topic)
        assert m.retain and m.json()["connectionState"] == "OFFLINE"


async def test_twenty_agents_in_one_process(broker: BrokerEndpoint) -> None:
    clock = WallClock()
    run = uuid.uuid4().hex[:6]
    agents = [RobotAgent(FakeKinematicDriver(clock), AgentConfig(
        manufacturer=MAN, serial_number=f"r{run}-{i}", host=broker.host, port=broker.port), clock)
        for i in range(20)]
    async with recorder(broker.host, broker.port, f"uagv/v2/{MAN}/+/state") as rec:
        tasks = [asyncio.create_task(a.run()) for a in agents]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 20)
            for i, a in enumerate(agents):
                robot = a.config.robot
                order = build_order(robot, f"o{i}", [Waypoint("a", 0, 0, "park"), Waypoint("b", 2, 0, "park"),
                                                     Waypoint("c", 2, 2, "park")], timestamp=datetime.now(UTC))
                await rec.client.publish(str(RobotTopic(robot, VdaTopic.ORDER)), order.to_json())
            done: set[str] = set()

            def all_done(m: Any) -> bool:
                s = m.json()
                if s["lastNodeId"] == "c" and not s["nodeStates"]:
                    done.add(s["serialNumber"])
                return len(done) == 20

            await rec.wait_for(all_done, limit=30)
        finally:
            for a in agents:
                a.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
