"""Events shaped like Frigate's: `{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`.

An event exists for a confirmed tracked object while at least one rule hits it (or for a crowd on a
camera). It starts with `new`, sends `update` when something an operator cares about changes
(rules, zones, a better score, a new snapshot, a fall), and finishes with `end` once the object is
gone or no rule has hit it for `end_grace` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class MapPosition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    x: float
    y: float


class EventState(BaseModel):
    """The `before`/`after` body of an event message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    camera: str
    label: str
    sub_label: str | None = None
    score: float
    top_score: float
    box: list[int]
    area: int
    zones: list[str]
    current_zones: list[str]
    rules: list[str]
    start_time: float
    end_time: float | None = None
    has_snapshot: bool = False
    stationary: bool = False
    false_positive: bool = False
    position: MapPosition | None = None
    robot: str | None = None


class VisionEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["new", "update", "end"]
    before: EventState
    after: EventState


@dataclass
class OpenEvent:
    """Bookkeeping of one open event."""

    state: EventState
    last_hit: float
    last_sent: float
    zones_seen: list[str]


def changed_enough(before: EventState, after: EventState) -> bool:
    """Whether an update is worth sending (not just a box jitter)."""
    if before.stationary and after.stationary:
        return False
    return (
        before.label != after.label
        or before.rules != after.rules
        or before.current_zones != after.current_zones
        or before.has_snapshot != after.has_snapshot
        or after.top_score > before.top_score + 0.05
        or before.stationary != after.stationary
    )
