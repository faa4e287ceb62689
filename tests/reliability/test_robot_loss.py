"""Robot loss: a robot whose link goes silent is shown offline through its last will within
1.5 x keepalive (the broker's detection), not through the service's slower silence timeout, and a
robot-offline alarm is raised; when the link returns the robot reconnects, is online again and
the same alarm is cleared."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patrol.broker import BrokerEndpoint
from patrol.fleet.registry import RobotKind
from patrol.roles import Role
from robots.agent import AgentConfig, RobotAgent
from robots.clock import WallClock
from tests.reliability.helpers import eventually
from tests.reliability.links import SilentLink
from tests.robots.fakes import FakeKinematicDriver
from tests.support import Service, running_service, service_settings

pytestmark = pytest.mark.reliability
KEEPALIVE_S = 2


async def _robot_alarms(svc: Service, headers: dict[str, str], pred: Callable[[dict[str, Any]], bool]
                        ) -> list[dict[str, Any]]:
    """dog-7's robot-offline alarms, once they all satisfy `pred` (polled for up to 10 s)."""
    found: list[dict[str, Any]] = []
    for _ in range(100):
        r = await svc.client.get("/api/alarms", params={"type": "robot_offline"}, headers=headers)
        found = [a for a in r.json() if "dog-7" in a["source"]]
        if found and all(pred(a) for a in found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"robot-offline alarm not as expected: {found}")


async def test_silent_robot_goes_offline_by_last_will_and_rejoins(tmp_path: Path, broker: BrokerEndpoint,
                                                                  database_url: str) -> None:
    settings = service_settings(tmp_path, broker, database_url, fleet={"offline_after_s": 300.0})
    async with running_service(settings) as svc, SilentLink(broker.host, broker.port) as link:
        rt = svc.runtime
        await rt.registry.add("acme", "dog-7", RobotKind.PATROL_DOG)
        rt.fleet.seed_from_registry()
        wp = next(iter(rt.park.waypoints.values()))
        clock = WallClock()
        config = AgentConfig(manufacturer="acme", serial_number="dog-7", host="127.0.0.1", port=link.port,
                             keepalive=KEEPALIVE_S, state_interval=1.0, reconnect_min=0.2, reconnect_max=1.0)
        agent = RobotAgent(FakeKinematicDriver(clock, x=wp.x, y=wp.y), config, clock)
        async with agent.running():
            await eventually(lambda: rt.fleet.robots["dog-7"].online and rt.fleet.robots["dog-7"].x is not None)
            link.silence()
            silenced = time.monotonic()
            # generous bound for a loaded machine; the promise (1.5 x keepalive) is the broker's timer
            await eventually(lambda: not rt.fleet.robots["dog-7"].online, within=6 * KEEPALIVE_S)
            offline_after = time.monotonic() - silenced
            assert rt.fleet.robots["dog-7"].connection == "CONNECTIONBROKEN"  # the last will, not our timeout
            viewer = await svc.login_as(Role.VIEWER)
            offline_alarms = await _robot_alarms(svc, viewer, lambda a: not a["status"].startswith("CLEARED"))
            assert len(offline_alarms) == 1
            link.restore()
            await eventually(lambda: rt.fleet.robots["dog-7"].online, within=20)
            assert agent.connections >= 2
            back = await _robot_alarms(svc, viewer, lambda a: a["status"].startswith("CLEARED"))
            assert [a["id"] for a in back] == [a["id"] for a in offline_alarms]
    print(f"\nrobot link silenced: offline via last will after {offline_after:.2f} s "
          f"(keepalive {KEEPALIVE_S} s, promise <= {1.5 * KEEPALIVE_S:.1f} s + 1 s broker timer tick)")
