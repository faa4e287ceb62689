"""Optional subsystems wired into the service's lifespan (alarms, sensors, vision, guide, patrol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from patrol.app import Subsystem


def all_subsystems() -> list[Subsystem]:
    return []
