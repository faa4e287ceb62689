"""Broker restarts with QoS 1 messages in flight: nothing is lost to the service's persistent session.

The service's bus subscribes (QoS 1, clean_session false, fixed client id) before it connects, as
every subsystem does; a persistent publisher streams numbered QoS 1 messages while the broker is
restarted. Delivery is at least once: duplicates are allowed and counted, a missing number fails.
Figures (lost, duplicates, time to recover) are printed for RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from patrol.app import Loop, Subsystem
from patrol.broker import MosquittoProcess, mosquitto_binary
from patrol.runtime import Runtime
from tests.reliability.helpers import close_client, eventually, paho_client
from tests.support import running_service, service_settings

pytestmark = pytest.mark.reliability
TOPIC = "reliability/seq"


class SeqSink:
    """Collects the sequence numbers the service's bus hands to its handler."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()

    def handle(self, topic: str, payload: bytes) -> None:
        self.seen[int(payload)] += 1

    def subsystem(self) -> Subsystem:
        async def setup(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
            rt.bus.subscribe(TOPIC, self.handle, 1)
            return []

        return Subsystem("reliability-seq", setup)

    def missing(self, n: int) -> list[int]:
        return [i for i in range(n) if i not in self.seen]

    def duplicates(self) -> int:
        return sum(c - 1 for c in self.seen.values())


@pytest.fixture
def mosquitto(tmp_path: Path) -> MosquittoProcess:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    return MosquittoProcess(data_dir=tmp_path / "broker")


async def _publish_stream(pub: mqtt.Client, start: int, stop: int, per_batch: int = 50) -> None:
    for i in range(start, stop):
        pub.publish(TOPIC, str(i).encode(), qos=1)
        if i % per_batch == 0:
            await asyncio.sleep(0.005)


async def _restart_in_flight(mosquitto: MosquittoProcess, tmp_path: Path, database_url: str, n: int,
                             crash: bool) -> tuple[SeqSink, float]:
    endpoint = mosquitto.start()
    sink = SeqSink()
    try:
        settings = service_settings(tmp_path / "svc", endpoint, database_url)
        async with running_service(settings, subsystems=[sink.subsystem()]) as svc:
            bus = svc.runtime.bus
            assert await bus.wait_connected(10)
            pub = paho_client(endpoint, "reliability-publisher", clean=False)
            try:
                await _publish_stream(pub, 0, n // 2)
                (mosquitto.kill if crash else mosquitto.stop)()
                await _publish_stream(pub, n // 2, n)  # queued in the publisher while the broker is down
                await asyncio.to_thread(mosquitto.start)
                restarted = time.monotonic()
                assert await bus.wait_connected(40)
                recover_s = time.monotonic() - restarted
                await eventually(lambda: not sink.missing(n), within=60)
            finally:
                close_client(pub)
    finally:
        mosquitto.stop()
    return sink, recover_s


async def test_broker_restart_with_messages_in_flight_loses_nothing(mosquitto: MosquittoProcess, tmp_path: Path,
                                                                    database_url: str) -> None:
    n = 2000
    sink, recover_s = await _restart_in_flight(mosquitto, tmp_path, database_url, n, crash=False)
    assert sink.missing(n) == []
    print(f"\nbroker restart: {n} QoS 1 messages, lost 0, duplicates {sink.duplicates()}, "
          f"service reconnected {recover_s:.2f} s after the broker came back")


async def test_offline_backlog_survives_a_broker_crash(mosquitto: MosquittoProcess, tmp_path: Path,
                                                       database_url: str) -> None:
    """Messages queued for the service while it is down survive SIGKILL of the broker (persistence)."""
    endpoint = mosquitto.start()
    n = 1000
    try:
        settings = service_settings(tmp_path / "svc", endpoint, database_url)
        first = SeqSink()
        async with running_service(settings, subsystems=[first.subsystem()]) as svc:
            assert await svc.runtime.bus.wait_connected(10)  # session and subscription now exist
        pub = paho_client(endpoint, "backlog-publisher")
        try:
            infos = [pub.publish(TOPIC, str(i).encode(), qos=1) for i in range(n)]
            for info in infos:
                await asyncio.to_thread(info.wait_for_publish, 10)
        finally:
            close_client(pub)
        db = mosquitto.data_dir / "mosquitto.db"
        acked = time.time()
        await eventually(lambda: db.exists() and db.stat().st_mtime > acked, within=10)  # autosave ran
        mosquitto.kill()
        await asyncio.to_thread(mosquitto.start)
        second = SeqSink()
        async with running_service(settings, subsystems=[second.subsystem()]) as svc:
            assert await svc.runtime.bus.wait_connected(20)
            await eventually(lambda: not second.missing(n), within=30)
        assert second.missing(n) == []
        print(f"\nbroker SIGKILL with {n} QoS 1 messages queued for the offline service: lost 0, "
              f"duplicates {second.duplicates()}")
    finally:
        mosquitto.stop()


@pytest.mark.slow
async def test_broker_crash_with_messages_in_flight_long(mosquitto: MosquittoProcess, tmp_path: Path,
                                                         database_url: str) -> None:
    n = 20000
    sink, recover_s = await _restart_in_flight(mosquitto, tmp_path, database_url, n, crash=True)
    assert sink.missing(n) == []
    print(f"\nbroker SIGKILL: {n} QoS 1 messages, lost 0, duplicates {sink.duplicates()}, "
          f"reconnected in {recover_s:.2f} s")
