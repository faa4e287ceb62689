"""Service crash: `parkpatrol serve` as a real process, SIGKILLed and restarted. What was stored
(users, accepted robots, open alarms) comes back from the store, issued tokens stay valid, the
broker announces the crash through the service's last will, a retained status delivered again
after the restart does not double its alarm."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from patrol.broker import BrokerEndpoint, free_port
from patrol.roles import Role
from tests.reliability.helpers import close_client, dumps, eventually, paho_client, prepare_store, state_dict
from tests.support import TEST_SECRET

pytestmark = pytest.mark.reliability
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Watcher:
    """Records what the broker carries on the service's availability and robots' instantActions topics."""

    available: list[bytes] = field(default_factory=list)
    instant_actions: list[str] = field(default_factory=list)

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == "parkpatrol/available":
            self.available.append(bytes(msg.payload))
        else:
            self.instant_actions.append(msg.topic)


class ServeProcess:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.env = {**os.environ, "PARKPATROL_AUTH__SECRET_KEY": TEST_SECRET, "PYTHONPATH": str(REPO_ROOT)}
        self.env.pop("PARKPATROL_CONFIG", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.with_suffix(".log").open("ab")

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "patrol.cli", "serve", "--config", str(self.config)],
                                     cwd=self.config.parent, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def serve(tmp_path: Path, broker: BrokerEndpoint) -> Iterator[tuple[ServeProcess, str, str]]:
    data = tmp_path / "data"
    db = f"sqlite+aiosqlite:///{data / 'parkpatrol.db'}"
    data.mkdir()
    port = free_port()
    cfg = tmp_path / "parkpatrol.toml"
    cfg.write_text(f'data_dir = "{data}"\nlog_level = "WARNING"\n[broker]\nurl = "mqtt://{broker.host}:{broker.port}"\n'
                   f'client_id = "svc-crash-{port}"\nkeepalive_s = 5\n[database]\nurl = "{db}"\n'
                   f"[http]\nport = {port}\n[vision]\nenabled = false\n", encoding="utf-8")
    proc = ServeProcess(cfg)
    try:
        yield proc, f"http://127.0.0.1:{port}", db
    finally:
        proc.close()


async def _healthy(client: httpx.AsyncClient, proc: ServeProcess, within: float = 60) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        assert proc.proc is not None and proc.proc.poll() is None, proc.config.with_suffix(".log").read_text()[-3000:]
        try:
            if (await client.get("/api/health")).status_code == 200:
                return time.monotonic() - t0
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("service did not become healthy")


async def _camera_alarms(client: httpx.AsyncClient, token: dict[str, str], within: float) -> list[dict[str, object]]:
    """Alarms of cam_gate_north, once at least one exists (or after `within` seconds)."""
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        r = await client.get("/api/alarms", params={"type": "camera_offline"}, headers=token)
        found = [a for a in r.json() if a["source"] == "camera:cam_gate_north"]
        if found:
            break
        await asyncio.sleep(0.1)
    return found


async def test_sigkill_and_restart_keeps_what_was_stored(serve: tuple[ServeProcess, str, str],
                                                         broker: BrokerEndpoint) -> None:
    proc, url, db = serve
    passwords = await prepare_store(db, [Role.ADMIN], robots=["dog-1"])
    watcher = Watcher()
    sub = paho_client(broker, f"crash-watcher-{os.getpid()}")
    sub.on_message = watcher.on_message
    sub.subscribe([("parkpatrol/available", 1), ("uagv/v2/acme/+/instantActions", 1)])
    pub = paho_client(broker, f"crash-robots-{os.getpid()}")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            proc.start()
            first_start = await _healthy(client, proc)
            r = await client.post("/api/auth/login", json={"username": "user-admin", "password": passwords[Role.ADMIN]})
            token = {"Authorization": f"Bearer {r.json()['access_token']}"}
            # work done before the crash: a robot accepted, a user created, a robot reporting
            pub.publish("uagv/v2/acme/dog-2/state", dumps(state_dict("dog-2", 0, 0)), qos=1).wait_for_publish(5)
            r = await client.post("/api/robots-pending/accept", headers=token,
                                  json={"manufacturer": "acme", "serial_number": "dog-2"})
            assert r.status_code == 201, r.text
            r = await client.post("/api/users", headers=token,
                                  json={"username": "night-guard", "password": "a-long-password-1", "role": "operator"})
            assert r.status_code == 201, r.text
            await eventually(lambda: watcher.available[-1:] == [b"online"])
            # an open alarm: a camera reported offline by its vision worker (retained, as workers publish it)
            camera_topic = "parkpatrol/cameras/cam_gate_north/status"
            pub.publish(camera_topic, b"offline", qos=1, retain=True).wait_for_publish(5)
            before = await _camera_alarms(client, token, within=10)
            assert len(before) == 1

            killed = time.monotonic()
            proc.kill()
            await eventually(lambda: watcher.available[-1:] == [b"offline"], within=15)  # the last will
            will_s = time.monotonic() - killed
            actions_before = len(watcher.instant_actions)

            proc.start()
            restart_s = await _healthy(client, proc)
            await eventually(lambda: watcher.available[-1:] == [b"online"])
            robots = (await client.get("/api/robots", headers=token)).json()  # the old token is still good
            assert {r["robot_id"] for r in robots} == {"dog-1", "dog-2"}
            users = (await client.get("/api/users", headers=token)).json()
            assert {u["username"] for u in users} == {"user-admin", "night-guard"}
            login = await client.post("/api/auth/login",
                                      json={"username": "night-guard", "password": "a-long-password-1"})
            assert login.status_code == 200
            resynced = len(watcher.instant_actions) > actions_before  # see the test below
            # the retained `offline` is delivered again after the restart: still one alarm, the same one
            after = await _camera_alarms(client, token, within=3)
            assert [a["id"] for a in after] == [a["id"] for a in before]
            pub.publish(camera_topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear the retained status
    finally:
        close_client(pub)
        close_client(sub)
    print(f"\nservice SIGKILL: last will 'offline' after {will_s:.2f} s; healthy again {restart_s:.2f} s after "
          f"restart (first start {first_start:.2f} s); stateRequest sent on restart: {resynced}")


async def test_restart_asks_every_registered_robot_for_its_state(tmp_path: Path, broker: BrokerEndpoint,
                                                                 database_url: str) -> None:
    from tests.support import running_service, service_settings

    await prepare_store(database_url, [], robots=["dog-1", "dog-2"])
    watcher = Watcher()
    sub = paho_client(broker, f"resync-watcher-{os.getpid()}")
    sub.on_message = watcher.on_message
    sub.subscribe([("uagv/v2/acme/+/instantActions", 1)])
    try:
        async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
            assert await svc.runtime.bus.wait_connected(10)
            await eventually(lambda: len(set(watcher.instant_actions)) >= 2, within=3)
    finally:
        close_client(sub)
    assert set(watcher.instant_actions) == {"uagv/v2/acme/dog-1/instantActions", "uagv/v2/acme/dog-2/instantActions"}
