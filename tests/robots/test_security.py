"""Broker security: $7$ hashes, ACL/config files, and a real Mosquitto enforcing them."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from patrol.broker import MosquittoProcess, mosquitto_binary
from robots.agent import AgentConfig, RobotAgent
from robots.cli import add_commands
from robots.clock import WallClock
from robots.security import (
    AccountRole,
    BrokerAccount,
    BrokerConfigPaths,
    accounts_from_json,
    auth_config_lines,
    hash_password,
    new_password,
    verify_password,
    write_broker_config,
)
from robots.vda5050.builders import Waypoint, build_order
from robots.vda5050.topics import RobotId, RobotTopic, VdaTopic
from tests.conftest import need
from tests.robots.fakes import FakeKinematicDriver
from tests.robots.mqtt_helpers import recorder

MAN = "ParkPatrolTest"


def test_hash_roundtrip_and_format() -> None:
    h = hash_password("s3cret!")
    assert h.startswith("$7$101$")
    assert verify_password("s3cret!", h)
    assert not verify_password("s3cret", h)
    assert hash_password("x", salt=b"0" * 12) == hash_password("x", salt=b"0" * 12)
    assert len(new_password()) >= 24 and new_password() != new_password()


def test_verify_accepts_mosquitto_passwd_output(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    need(tool is not None, "mosquitto_passwd is not installed")
    assert tool is not None
    pw = tmp_path / "pw"
    subprocess.run([tool, "-b", "-c", str(pw), "alice", "open sesame"], check=True, capture_output=True)
    stored = pw.read_text().strip().split(":", 1)[1]
    assert verify_password("open sesame", stored)
    assert not verify_password("open sesame!", stored)


def test_account_validation_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="exactly one of password"):
        BrokerAccount.robot(MAN, "d1")
    with pytest.raises(ValueError, match="serialNumber"):
        BrokerAccount.robot(MAN, "d/1", password="x", username="robot-d1")
    with pytest.raises(ValueError, match=r"accounts\[1\]"):
        accounts_from_json([{"role": "service", "username": "svc", "password": "p"}, {"role": "robot"}])
    with pytest.raises(ValueError, match="appears twice"):
        write_broker_config(Path("/nonexistent"), [BrokerAccount.service(password="a"),
                                                    BrokerAccount.service(password="b")])


def test_acl_text_scopes_each_role() -> None:
    a = BrokerAccount.robot(MAN, "dogA", password="x")
    assert a.acl_rules() == [
        f"topic write uagv/v2/{MAN}/dogA/state", f"topic write uagv/v2/{MAN}/dogA/visualization",
        f"topic write uagv/v2/{MAN}/dogA/connection", f"topic write uagv/v2/{MAN}/dogA/factsheet",
        f"topic read uagv/v2/{MAN}/dogA/order", f"topic read uagv/v2/{MAN}/dogA/instantActions",
    ]
    assert BrokerAccount.sensor_gateway("z2m", password="x").acl_rules() == [
        "topic readwrite zigbee2mqtt/#", "topic readwrite homeassistant/#"]
    assert BrokerAccount.vision_worker("v1", password="x").acl_rules() == [
        "topic readwrite parkpatrol/vision/#", "topic readwrite parkpatrol/cameras/#"]


def test_cli_writes_files_from_accounts_json(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([
        {"role": "robot", "manufacturer": MAN, "serialNumber": "d1", "password": "pw1"},
        {"role": "service", "username": "svc", "passwordHash": hash_password("pw2")},
    ]))
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["broker-config-file", "--accounts", str(accounts), "--out", str(tmp_path / "out"),
                              "--listen-port", "18830"])
    assert args.func(args) == 0
    passwd = (tmp_path / "out" / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["robot-d1", "svc"]
    assert verify_password("pw1", passwd[0].split(":", 1)[1])
    assert (tmp_path / "out" / "passwd").stat().st_mode & 0o077 == 0
    conf = (tmp_path / "out" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "listener 18830" in conf
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    args = parser.parse_args(["broker-config-file", "--accounts", str(bad), "--out", str(tmp_path / "o2")])
    assert args.func(args) == 2


# --- against a real Mosquitto ------------------------------------------------------------------------
PASSWORDS = {"robot-dogA": "pwA-" + uuid.uuid4().hex, "robot-dogB": "pwB-" + uuid.uuid4().hex,
             "svc": "svc-" + uuid.uuid4().hex, "z2m": "z-" + uuid.uuid4().hex, "vis": "v-" + uuid.uuid4().hex}


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[MosquittoProcess]:
    need(mosquitto_binary() is not None, "mosquitto is not installed")
    accounts = [
        BrokerAccount.robot(MAN, "dogA", password=PASSWORDS["robot-dogA"]),
        BrokerAccount.robot(MAN, "dogB", password_hash=hash_password(PASSWORDS["robot-dogB"])),
        BrokerAccount.service("svc", password=PASSWORDS["svc"]),
        BrokerAccount.sensor_gateway("z2m", password=PASSWORDS["z2m"]),
        BrokerAccount.vision_worker("vis", password=PASSWORDS["vis"]),
    ]
    paths: BrokerConfigPaths = write_broker_config(tmp_path / "conf", accounts)
    proc = MosquittoProcess(data_dir=tmp_path / "broker", extra_config=auth_config_lines(paths),
                            allow_anonymous=False)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _login(proc: MosquittoProcess, user: str, password: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(proc.host, proc.port, username=user,
                          password=PASSWORDS[user] if password is None else password,
                          identifier=f"{user}-{uuid.uuid4().hex[:6]}")


def _t(serial: str, kind: VdaTopic) -> str:
    return str(RobotTopic(RobotId(MAN, serial), kind))


async def test_wrong_password_and_anonymous_are_refused(secured: MosquittoProcess) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with _login(secured, "robot-dogA", "wrong"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(secured.host, secured.port):
            pass


async def test_robot_cannot_speak_for_another_robot(secured: MosquittoProcess) -> None:
    async with recorder(secured.host, secured.port, "uagv/v2/+/+/state", username="svc",
                        password=PASSWORDS["svc"]) as service:
        async with _login(secured, "robot-dogA") as a:
            await a.publish(_t("dogB", VdaTopic.STATE), b'{"forged": true}', qos=1)
            await a.publish(_t("dogA", VdaTopic.STATE), b'{"own": true}', qos=1)
            await service.wait_for(lambda m: m.topic == _t("dogA", VdaTopic.STATE))
        assert [m.topic for m in service.messages] == [_t("dogA", VdaTopic.STATE)]


async def test_robot_cannot_read_another_robots_orders(secured: MosquittoProcess) -> None:
    async with recorder(secured.host, secured.port, "uagv/v2/#", username="robot-dogA",
                        password=PASSWORDS["robot-dogA"]) as a:
        async with _login(secured, "svc") as svc:
            await svc.publish(_t("dogB", VdaTopic.ORDER), b'{"for": "B"}', qos=1)
            await svc.publish(_t("dogB", VdaTopic.INSTANT_ACTIONS), b'{"for": "B"}', qos=1)
            await svc.publish(_t("dogA", VdaTopic.INSTANT_ACTIONS), b'{"for": "A"}', qos=1)
            await svc.publish(_t("dogA", VdaTopic.ORDER), b'{"for": "A"}', qos=1)
            await a.wait_for(lambda m: m.topic == _t("dogA", VdaTopic.ORDER))
        assert [m.topic for m in a.messages] == [_t("dogA", VdaTopic.INSTANT_ACTIONS), _t("dogA", VdaTopic.ORDER)]


async def test_gateway_and_vision_accounts_are_scoped(secured: MosquittoProcess) -> None:
    async with recorder(secured.host, secured.port, "#", username="svc", password=PASSWORDS["svc"]) as svc:
        async with _login(secured, "z2m") as z, _login(secured, "vis") as v:
            await z.publish(_t("dogA", VdaTopic.STATE), b"forged", qos=1)
            await v.publish(_t("dogA", VdaTopic.STATE), b"forged", qos=1)
            await z.publish("parkpatrol/vision/events", b"forged", qos=1)
            await v.publish("zigbee2mqtt/door1", b"forged", qos=1)
            await z.publish("zigbee2mqtt/door1", b'{"contact": true}', qos=1)
            await v.publish("parkpatrol/vision/events", b'{"type": "new"}', qos=1)
            await svc.wait_for(lambda m: m.topic == "parkpatrol/vision/events")
        got = [(m.topic, m.payload) for m in svc.messages if not m.topic.startswith("$SYS")]
        assert got == [("zigbee2mqtt/door1", b'{"contact": true}'), ("parkpatrol/vision/events", b'{"type": "new"}')]


async def test_agent_with_its_own_credentials_completes_an_order(secured: MosquittoProcess) -> None:
    clock = WallClock()
    driver = FakeKinematicDriver(clock)
    config = AgentConfig(manufacturer=MAN, serial_number="dogA", host=secured.host, port=secured.port,
                         username="robot-dogA", password=PASSWORDS["robot-dogA"], state_interval=5.0)
    async with recorder(secured.host, secured.port, "uagv/v2/+/+/+", username="svc",
                        password=PASSWORDS["svc"]) as svc:
        async with RobotAgent(driver, config, clock).running():
            await svc.wait_for(lambda m: m.kind == "factsheet")
            order = build_order(RobotId(MAN, "dogA"), "o1", [Waypoint("a", 0, 0, "park"), Waypoint("b", 1, 1, "park")],
                                timestamp=datetime.now(UTC))
            await svc.client.publish(_t("dogA", VdaTopic.ORDER), order.to_json())
            await svc.wait_state(lambda s: s["orderId"] == "o1" and s["lastNodeId"] == "b" and not s["nodeStates"])
        await svc.wait_for(lambda m: m.kind == "connection" and m.json()["connectionState"] == "OFFLINE")
    assert AccountRole.ROBOT.value == "robot"
