"""VDA 5050 models, topics and builders: wire form and schema validity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from robots.agent import ActionSpec, AgentConfig
from robots.agent.factsheet import build_factsheet
from robots.vda5050 import Connection, Order, State, answer_version
from robots.vda5050.actions import PATROL_ACTIONS, declares_action, missing_required_parameters
from robots.vda5050.base import UnsupportedVersionError, format_timestamp
from robots.vda5050.builders import Waypoint, build_instant_actions, build_order, make_action
from robots.vda5050.factsheet import Factsheet
from robots.vda5050.topics import (
    HeaderIds,
    RobotId,
    RobotTopic,
    TopicError,
    VdaTopic,
    robot_subscriptions,
    service_subscriptions,
)
from tests.robots.fakes import PATROL_SPECS

T0 = datetime(2026, 11, 28, 3, 30, 3, 123456, tzinfo=UTC)
ROBOT = RobotId("Acme", "dog-1")


def test_timestamp_is_utc_with_z() -> None:
    assert format_timestamp(T0) == "2026-11-28T03:30:03.123Z"
    east = T0.astimezone(timezone(timedelta(hours=8)))
    assert format_timestamp(east) == "2026-11-28T03:30:03.123Z"
    c = Connection(header_id=0, timestamp=T0, version="2.1.0", manufacturer="Acme", serial_number="1",
                   connection_state="ONLINE")
    assert c.to_dict() == {"headerId": 0, "timestamp": "2026-11-28T03:30:03.123Z", "version": "2.1.0",
                           "manufacturer": "Acme", "serialNumber": "1", "connectionState": "ONLINE"}
    parsed = Connection.from_json(b'{"headerId":1,"timestamp":"2026-11-28T11:30:03+08:00","version":"2.0.0",'
                                  b'"manufacturer":"A","serialNumber":"1","connectionState":"OFFLINE"}')
    assert parsed.timestamp == datetime(2026, 11, 28, 3, 30, 3, tzinfo=UTC)


def test_order_wire_form_is_camel_case_without_nones(validate_vda: Callable[[str, Any], None]) -> None:
    scan = make_action("scanArea", {"duration": 5}, action_id="a1")
    order = build_order(ROBOT, "o1", [Waypoint("n1", 0, 0, "park"), Waypoint("n2", 5, 0, "park", actions=[scan]),
                                      Waypoint("n3", 5, 5, "park")],
                        timestamp=T0, header_id=7, released=2, max_speed=1.2)
    d = order.to_dict()
    validate_vda("order", d)
    assert d["orderId"] == "o1" and d["headerId"] == 7 and d["version"] == "2.1.0"
    assert [n["sequenceId"] for n in d["nodes"]] == [0, 2, 4]
    assert [e["sequenceId"] for e in d["edges"]] == [1, 3]
    assert [n["released"] for n in d["nodes"]] == [True, True, False]
    assert [e["released"] for e in d["edges"]] == [True, False]
    assert d["nodes"][1]["actions"][0] == {"actionType": "scanArea", "actionId": "a1", "blockingType": "HARD",
                                           "actionParameters": [{"key": "duration", "value": 5}]}
    assert "nodeDescription" not in d["nodes"][0] and "theta" not in d["nodes"][0]["nodePosition"]
    assert Order.from_json(order.to_json()).to_dict() == d


def test_builders_answer_in_the_robots_version(validate_vda: Callable[[str, Any], None]) -> None:
    order = build_order(ROBOT, "o", [Waypoint("n1", 0, 0, "m")], timestamp=T0, robot_version="2.0.3")
    assert order.version == "2.0.0"
    ia = build_instant_actions(ROBOT, [make_action("cancelOrder"), make_action("speak", {"text": "你好",
                                       "language": "zh-CN"})], timestamp=T0, robot_version="2.1.5")
    assert ia.version == "2.1.0"
    validate_vda("order", order.to_dict())
    validate_vda("instantActions", ia.to_dict())
    assert answer_version(None) == "2.1.0"
    with pytest.raises(UnsupportedVersionError):
        answer_version("3.0.0")
    with pytest.raises(ValueError, match="released=0"):
        build_order(ROBOT, "o", [Waypoint("n1", 0, 0, "m")], timestamp=T0, released=0)


def test_factsheet_declares_driver_actions(validate_vda: Callable[[str, Any], None]) -> None:
    config = AgentConfig(manufacturer="Acme", serial_number="dog-1", state_interval=10, visualization_interval=1)
    extra = ActionSpec("wagTail", "vendor action", ("INSTANT",), ("times",), ("NONE",))
    fs = build_factsheet(config, [*PATROL_SPECS, extra], header_id=0, timestamp=T0)
    d = fs.to_dict()
    validate_vda("factsheet", d)
    assert d["protocolLimits"]["timing"]["defaultStateInterval"] == 10
    parsed = Factsheet.from_json(fs.to_json())
    assert declares_action(parsed, "scanArea") and declares_action(parsed, "speak", "INSTANT")
    assert declares_action(parsed, "cancelOrder") and declares_action(parsed, "wagTail")
    assert not declares_action(parsed, "dock") and not declares_action(parsed, "leadTo")
    assert not declares_action(parsed, "scanArea", "EDGE")
    assert not declares_action(None, "scanArea")
    speak = parsed.action("speak")
    assert speak is not None and {p.key for p in speak.action_parameters or []} == {"text", "language"}


def test_patrol_action_definitions_validate(validate_vda: Callable[[str, Any], None]) -> None:
    assert set(PATROL_ACTIONS) == {"capturePhoto", "scanArea", "speak", "dock", "followPerson", "leadTo"}
    assert missing_required_parameters("speak", {"text": "hi"}) == ["language"]
    assert missing_required_parameters("capturePhoto", {}) == []


def test_state_with_paused_action_validates_with_errata(validate_vda: Callable[[str, Any], None]) -> None:
    s = {"headerId": 3, "timestamp": "2026-11-28T03:30:03.120Z", "version": "2.1.0", "manufacturer": "A",
         "serialNumber": "1", "orderId": "", "orderUpdateId": 0, "lastNodeId": "", "lastNodeSequenceId": 0,
         "driving": False, "operatingMode": "AUTOMATIC", "nodeStates": [], "edgeStates": [],
         "actionStates": [{"actionId": "x", "actionStatus": "PAUSED"}],
         "batteryState": {"batteryCharge": 50.0, "charging": False}, "errors": [],
         "safetyState": {"eStop": "NONE", "fieldViolation": False}}
    validate_vda("state", s)
    assert State.model_validate(s).to_dict() == s


def test_models_reject_what_the_schema_rejects() -> None:
    with pytest.raises(ValidationError):
        Connection.from_json(b'{"headerId":1,"timestamp":"2026-11-28T03:30:03Z","version":"2.1.0",'
                             b'"manufacturer":"A","serialNumber":"1","connectionState":"GONE"}')
    with pytest.raises(ValidationError):
        Connection.from_json(b'{"headerId":1,"timestamp":"yesterday","version":"2.1.0",'
                             b'"manufacturer":"A","serialNumber":"1","connectionState":"ONLINE"}')


def test_topics_build_parse_and_delivery() -> None:
    t = RobotTopic(ROBOT, VdaTopic.STATE)
    assert str(t) == "uagv/v2/Acme/dog-1/state" and t.qos == 0 and not t.retain
    c = RobotTopic.parse("fleet/v2/Acme/dog-1/connection")
    assert c.interface == "fleet" and c.topic is VdaTopic.CONNECTION and c.qos == 1 and c.retain
    assert RobotTopic.parse(str(t)) == t
    for bad in ("uagv/v2/Acme/state", "uagv/v3/Acme/d/state", "uagv/v2/Acme/d/orders", "uagv/v2/A+/d/state",
                "uagv/v2//d/state"):
        with pytest.raises(TopicError):
            RobotTopic.parse(bad)
    with pytest.raises(TopicError, match="interface"):
        RobotTopic.parse("other/v2/Acme/d/state", interface="uagv")
    with pytest.raises(TopicError):
        RobotId("Acme", "dog/1")
    assert service_subscriptions() == [("uagv/v2/+/+/state", 0), ("uagv/v2/+/+/visualization", 0),
                                       ("uagv/v2/+/+/connection", 1), ("uagv/v2/+/+/factsheet", 0)]
    assert robot_subscriptions(ROBOT) == [("uagv/v2/Acme/dog-1/order", 0), ("uagv/v2/Acme/dog-1/instantActions", 0)]


def test_header_ids_count_per_topic() -> None:
    ids = HeaderIds()
    s, v = RobotTopic(ROBOT, VdaTopic.STATE), RobotTopic(ROBOT, VdaTopic.VISUALIZATION)
    assert [ids.next(s), ids.next(s), ids.next(v), ids.next(s)] == [0, 1, 0, 2]
    assert ids.peek(s) == 3


def test_factsheet_keeps_driver_specific_parameters() -> None:
    config = AgentConfig(manufacturer="Acme", serial_number="dog-1")
    spec = ActionSpec("capturePhoto", "photo", ("NODE",), ("camera", "zoom"))
    fs = build_factsheet(config, [spec], header_id=0, timestamp=T0)
    photo = fs.action("capturePhoto")
    assert photo is not None and photo.action_scopes == ["NODE"]
    types = {p.key: p.value_data_type.value for p in photo.action_parameters or []}
    assert types == {"camera": "STRING", "label": "STRING", "zoom": "STRING"}
