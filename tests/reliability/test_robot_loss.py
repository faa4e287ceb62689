"""Robot loss: a robot whose link goes silent is shown offline through its last will within
1.5 x keepalive (the broker's detection), not through the service's slower silence timeout; when
the link returns the robot reconnects and is online again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from patrol.broker import BrokerEndpoint
from patrol.fleet.registry import RobotKind
from robots.agent import AgentConfig, RobotAgent
from robots.clock import WallClock
from tests.reliability.helpers import eventually
from tests.reliability.links import SilentLink
from tests.robots.fakes import FakeKinematicDriver
from tests.support import running_service, service_settings

pytestmark = pytest.mark.reliability
KEEPALIVE_S = 2


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
            link.restore()
            await eventually(lambda: rt.fleet.robots["dog-7"].online, within=20)
            assert agent.connections >= 2
    print(f"\nrobot link silenced: offline via last will after {offline_after:.2f} s "
          f"(keepalive {KEEPALIVE_S} s, promise <= {1.5 * KEEPALIVE_S:.1f} s + 1 s broker timer tick)")
