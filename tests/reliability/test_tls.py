"""TLS: the service talks to Mosquitto over mqtts:// and serves HTTPS, with certificates made at test
time by `patrol.tls`; a peer that does not trust the park's CA cannot connect."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from patrol.app import create_app
from patrol.broker import BrokerEndpoint, MosquittoProcess, free_port, mosquitto_binary
from patrol.config import ConfigError, load_settings
from patrol.fleet.registry import RobotKind
from patrol.tls import Pki, make_pki, mosquitto_tls_listener
from tests.reliability.helpers import LiveServer, dumps, eventually, state_dict
from tests.support import running_service, service_settings

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_generated_pki_is_usable(pki: Pki) -> None:
    assert oct(pki.server.key_file.stat().st_mode & 0o777) == "0o600"
    server = pki.server_context(require_client_cert=True)
    client = pki.client_context(with_client_cert=True)
    assert server.verify_mode is ssl.CERT_REQUIRED and client.check_hostname
    with pytest.raises(ValueError, match="hosts"):
        make_pki(pki.ca.cert_file.parent / "x", hosts=())


def _tls_client(port: int, ca: Path | None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tls-pub-{port}", protocol=mqtt.MQTTv311)
    c.tls_set_context(ssl.create_default_context(cafile=str(ca) if ca else None))
    return c


def _handshake(port: int, ctx: ssl.SSLContext) -> None:
    with socket.create_connection(("localhost", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost"):
        pass


async def test_service_ingests_over_mqtts(tmp_path: Path, pki: Pki, database_url: str) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    tls_port = free_port()
    broker = MosquittoProcess(data_dir=tmp_path / "broker", extra_config=mosquitto_tls_listener(tls_port, pki))
    broker.start()
    try:
        plain = service_settings(tmp_path / "svc", broker.endpoint, database_url)
        settings = plain.model_copy(update={"broker": plain.broker.model_copy(update={
            "url": f"mqtts://localhost:{tls_port}", "ca_file": pki.ca.cert_file})})
        async with running_service(settings) as svc:
            rt = svc.runtime
            assert await rt.bus.wait_connected(10), rt.bus.last_error
            await rt.registry.add("acme", "dog-1", RobotKind.PATROL_DOG)
            rt.fleet.seed_from_registry()
            wp = next(iter(rt.park.waypoints.values()))
            pub = _tls_client(tls_port, pki.ca.cert_file)
            pub.connect("localhost", tls_port)
            pub.loop_start()
            try:
                pub.publish("uagv/v2/acme/dog-1/state", dumps(state_dict("dog-1", wp.x, wp.y)), qos=1)
                await eventually(lambda: rt.fleet.robots["dog-1"].online)
            finally:
                pub.loop_stop()
                pub.disconnect()
            # a client that does not trust the park's CA is refused at the handshake
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.to_thread(_handshake, tls_port, ssl.create_default_context())
            await asyncio.to_thread(_handshake, tls_port, pki.client_context())
    finally:
        broker.stop()


async def test_https_with_generated_certificates(tmp_path: Path, pki: Pki, broker: BrokerEndpoint) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'https.db'}"
    app = create_app(service_settings(tmp_path, broker, db))
    with LiveServer(app, ssl_certfile=pki.server.cert_file, ssl_keyfile=pki.server.key_file) as server:
        assert server.url.startswith("https://")
        async with httpx.AsyncClient(verify=pki.client_context()) as client:
            r = await client.get(f"{server.url}/api/health")
            assert r.status_code == 200
            assert r.headers["X-Frame-Options"] == "DENY"
        async with httpx.AsyncClient(verify=ssl.create_default_context()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{server.url}/api/health")
        async with httpx.AsyncClient() as client:  # plain HTTP to the TLS port gets no answer
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{server.port}/api/health")


def test_serve_accepts_tls_certificate_settings(pki: Pki) -> None:
    try:
        s = load_settings(False, {"http": {"ssl_certfile": str(pki.server.cert_file),
                                           "ssl_keyfile": str(pki.server.key_file)}}, env={})
    except ConfigError as e:
        pytest.fail(str(e))
    assert s.http.ssl_certfile == pki.server.cert_file  # type: ignore[attr-defined]


def test_tls_certs_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from patrol.tls import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["tls-certs", "--out", str(tmp_path / "pki"), "--host", "broker.park.local"])
    assert args.func(args) == 0
    assert "ca.crt" in capsys.readouterr().out
    ctx = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(tmp_path / "pki" / "server.crt"), str(tmp_path / "pki" / "server.key"))
    assert args.func(args) == 2  # refuses to replace the CA without --force
    assert "--force" in capsys.readouterr().err
    args = parser.parse_args(["tls-certs", "--out", str(tmp_path / "x"), "--days", "0"])
    assert args.func(args) == 2
