"""The service's running parts, created by the lifespan and handed to routes via request state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from maps import Park
from patrol.auth import AuthService
from patrol.broker import BrokerEndpoint
from patrol.bus import MqttBus
from patrol.config import Settings
from patrol.fleet.commands import RobotCommander
from patrol.fleet.registry import RobotRegistry
from patrol.fleet.state import FleetState
from patrol.live import LiveHub
from patrol.store.db import Store
from robots.clock import Clock


@dataclass
class Runtime:
    """Everything the lifespan wired; one per running app (tests start many)."""

    settings: Settings
    clock: Clock
    store: Store
    auth: AuthService
    park: Park
    broker: BrokerEndpoint
    bus: MqttBus
    registry: RobotRegistry
    fleet: FleetState
    commander: RobotCommander
    live: LiveHub
    started_at: float = field(default_factory=time.time)
    database_ok: bool = True
    extras: dict[str, Any] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """Lifespan state: what `request.state.<name>` offers to route dependencies."""
        return {"runtime": self, "auth": self.auth, **self.extras}
