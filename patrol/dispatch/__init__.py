"""Patrol dispatch: plans become VDA 5050 orders; incidents, batteries and drop-outs are handled here.

    from patrol.dispatch import PatrolDispatcher, RobotInfo, RobotStatus, Incident, NodeGeometry
    disp = PatrolDispatcher(planner, NodeGeometry.from_graph(graph, map_id), sink, chargers=[...])
    disp.register(RobotInfo("dog1", RobotId("acme", "dog1"), actions=frozenset({...})))
    disp.update(RobotStatus(...), now); disp.start_patrol(now); disp.tick(now)
    disp.dispatch_incident(Incident("inc-1", node), now); disp.offline("dog2", now)

`sink` implements `CommandSink` (send_order / send_instant_actions); nothing here knows MQTT.
"""

from patrol.dispatch.dispatcher import PatrolDispatcher
from patrol.dispatch.incident import Candidate, choose_robot
from patrol.dispatch.model import (
    BatteryPolicy,
    CommandSink,
    Incident,
    IncidentAssignment,
    IncidentReport,
    Mode,
    RobotInfo,
    RobotStatus,
)
from patrol.dispatch.orders import NodeGeometry, OrderStream

__all__ = [
    "BatteryPolicy",
    "Candidate",
    "CommandSink",
    "Incident",
    "IncidentAssignment",
    "IncidentReport",
    "Mode",
    "NodeGeometry",
    "OrderStream",
    "PatrolDispatcher",
    "RobotInfo",
    "RobotStatus",
    "choose_robot",
]
