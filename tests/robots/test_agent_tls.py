"""The agent over TLS with a broker account: a private Mosquitto with a self-signed certificate."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from patrol.broker import MosquittoProcess, mosquitto_binary
from robots.agent import AgentConfig, RobotAgent, TlsConfig
from robots.clock import WallClock
from robots.security import BrokerAccount, auth_config_lines, write_broker_config
from tests.conftest import need
from tests.robots.fakes import FakeKinematicDriver
from tests.robots.mqtt_helpers import recorder


def _self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    need(openssl is not None, "openssl is not installed")
    assert openssl is not None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_agent_connects_over_tls_with_credentials(tmp_path: Path) -> None:
    need(mosquitto_binary() is not None, "mosquitto is not installed")
    cert, key = _self_signed(tmp_path)
    robot_pw, svc_pw = uuid.uuid4().hex, uuid.uuid4().hex
    paths = write_broker_config(tmp_path / "conf", [BrokerAccount.robot("Tls", "dog-1", password=robot_pw),
                                                    BrokerAccount.service("svc", password=svc_pw)])
    proc = MosquittoProcess(data_dir=tmp_path / "broker", allow_anonymous=False,
                            extra_config=[f"certfile {cert}", f"keyfile {key}", *auth_config_lines(paths)])
    proc.start()
    try:
        tls = TlsConfig(ca_file=cert)
        clock = WallClock()
        config = AgentConfig(manufacturer="Tls", serial_number="dog-1", host=proc.host, port=proc.port,
                             username="robot-dog-1", password=robot_pw, tls=tls)
        async with (
            recorder(proc.host, proc.port, "uagv/v2/Tls/dog-1/+", username="svc", password=svc_pw,
                     tls_context=tls.context()) as svc,
            RobotAgent(FakeKinematicDriver(clock), config, clock).running(),
        ):
            m = await svc.wait_for(lambda m: m.kind == "connection")
            assert m.json()["connectionState"] == "ONLINE"
            await svc.wait_for(lambda m: m.kind == "state")
    finally:
        proc.stop()
