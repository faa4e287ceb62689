"""End to end: a RobotAgent with FakeKinematicDriver on a real Mosquitto completes an order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from patrol.broker import BrokerEndpoint
from robots.agent import AgentConfig, RobotAgent
from robots.clock import WallClock
from robots.vda5050.builders import Waypoint, build_instant_actions, build_order, make_action
from robots.vda5050.topics import RobotId, RobotTopic, VdaTopic
from tests.robots.fakes import FakeKinematicDriver
from tests.robots.mqtt_helpers import Recorder, recorder


def _config(broker: BrokerEndpoint, serial: str, **kw: Any) -> AgentConfig:
    return AgentConfig(manufacturer="ParkPatrolTest", serial_number=serial, host=broker.host, port=broker.port,
                       state_interval=5.0, visualization_interval=0.2, reconnect_min=0.1, **kw)


def _validate_all(rec: Recorder, validate_vda: Callable[[str, Any], None]) -> int:
    for m in rec.messages:
        validate_vda(m.kind, m.json())
    return len(rec.messages)


async def _send(rec: Recorder, robot: RobotId, kind: VdaTopic, payload: bytes) -> None:
    await rec.client.publish(str(RobotTopic(robot, kind)), payload, qos=0)


async def test_agent_completes_three_node_order(broker: BrokerEndpoint,
                                                validate_vda: Callable[[str, Any], None]) -> None:
    serial = f"dog-{uuid.uuid4().hex[:8]}"
    robot = RobotId("ParkPatrolTest", serial)
    clock = WallClock()
    driver = FakeKinematicDriver(clock)
    agent = RobotAgent(driver, _config(broker, serial), clock)
    async with recorder(broker.host, broker.port, f"uagv/v2/ParkPatrolTest/{serial}/#") as rec:
        async with agent.running():
            await rec.wait_for(lambda m: m.kind == "factsheet")
            await rec.wait_state(lambda s: s["orderId"] == "")
            scan = make_action("scanArea", {"duration": 0.05}, action_id="scan-1")
            photo = make_action("capturePhoto", {"label": "gate"}, action_id="photo-1")
            order = build_order(robot, "patrol-1", [
                Waypoint("n1", 0.0, 0.0, "park"),
                Waypoint("n2", 3.0, 0.0, "park", actions=[scan]),
                Waypoint("n3", 3.0, 2.0, "park", actions=[photo]),
            ], timestamp=datetime.now(UTC), header_id=0)
            await _send(rec, robot, VdaTopic.ORDER, order.to_json())
            final = await rec.wait_state(
                lambda s: s["orderId"] == "patrol-1" and s["lastNodeId"] == "n3" and not s["nodeStates"]
                and {a["actionId"]: a["actionStatus"] for a in s["actionStates"]}
                == {"scan-1": "FINISHED", "photo-1": "FINISHED"})
            assert final["driving"] is False
            assert final["agvPosition"]["x"] == 3.0 and final["agvPosition"]["y"] == 2.0
            photo_state = next(a for a in final["actionStates"] if a["actionId"] == "photo-1")
            assert photo_state["resultDescription"] == "photo:photo-1"
            # the robot went through RUNNING on the way, and drove
            assert any(s["driving"] for s in rec.of("state"))
            assert any(a["actionStatus"] == "RUNNING" for s in rec.of("state") for a in s["actionStates"])
            # a stateRequest is answered, a factsheetRequest too
            req = build_instant_actions(robot, [make_action("stateRequest", action_id="sr-1"),
                                                make_action("factsheetRequest", action_id="fr-1")],
                                        timestamp=datetime.now(UTC), header_id=0)
            n_fact = len(rec.of("factsheet"))
            await _send(rec, robot, VdaTopic.INSTANT_ACTIONS, req.to_json())
            await rec.wait_state(lambda s: {"sr-1", "fr-1"} <= {a["actionId"] for a in s["actionStates"]
                                                                if a["actionStatus"] == "FINISHED"})
            await rec.wait_for(lambda m: m.kind == "factsheet" and len(rec.of("factsheet")) > n_fact)
            await rec.wait_for(lambda m: m.kind == "visualization")
        await rec.wait_for(lambda m: m.kind == "connection" and m.json()["connectionState"] == "OFFLINE")
    states = [m.json()["connectionState"] for m in rec.messages if m.kind == "connection"]
    assert states[0] == "ONLINE" and states[-1] == "OFFLINE"
    # headerIds count up per topic
    ids = [s["headerId"] for s in rec.of("state")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [g.node_id for g in driver.goals] == ["n1", "n2", "n3"]
    assert _validate_all(rec, validate_vda) > 5
