"""The simulation's event log: what happened, when (clock time) and to whom.

Tests compare logs of two runs with the same seed; the `signature()` leaves out fields that
depend on the host (ports, URLs) so equal runs give equal signatures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from robots.clock import Clock

log = logging.getLogger(__name__)

JsonScalar = str | int | float | bool | None
HOST_FIELDS = frozenset({"url"})  # event data that differs between hosts and runs (ports in URLs)


@dataclass(frozen=True)
class SimEvent:
    """One thing that happened in the simulation."""

    t: float  # clock seconds since the simulation started
    kind: str  # e.g. "person.spawn", "sensor.trip", "fault.robot_stuck"
    subject: str  # person id, sensor name, robot serial, camera id
    data: Mapping[str, JsonScalar] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "subject": self.subject, "data": dict(self.data)}


class EventLog:
    """Append-only log of `SimEvent`s stamped with the clock, with optional listeners."""

    def __init__(self, clock: Clock, *, max_events: int = 200_000) -> None:
        self._clock = clock
        self._t0 = clock.now()
        self._events: list[SimEvent] = []
        self._max = max_events
        self._dropped = 0
        self._listeners: list[Callable[[SimEvent], None]] = []

    @property
    def t0(self) -> float:
        return self._t0

    def elapsed(self) -> float:
        return self._clock.now() - self._t0

    def record(self, kind: str, subject: str, **data: JsonScalar) -> SimEvent:
        event = SimEvent(round(self.elapsed(), 3), kind, subject, data)
        if len(self._events) < self._max:
            self._events.append(event)
        else:
            self._dropped += 1
        log.debug("sim %8.2f %s %s %s", event.t, kind, subject, data)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the simulation
                log.exception("event listener failed on %s", event)
        return event

    def subscribe(self, listener: Callable[[SimEvent], None]) -> None:
        self._listeners.append(listener)

    @property
    def dropped(self) -> int:
        return self._dropped

    def __iter__(self) -> Iterator[SimEvent]:
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def of_kind(self, prefix: str) -> list[SimEvent]:
        return [e for e in self._events if e.kind.startswith(prefix)]

    def signature(self, *, exclude_prefixes: tuple[str, ...] = ()) -> list[tuple[float, str, str]]:
        """(t, kind, subject) of every event, for comparing two runs."""
        return [(e.t, e.kind, e.subject) for e in self._events if not e.kind.startswith(exclude_prefixes)]

    def trace(self, *, exclude_prefixes: tuple[str, ...] = ()) -> list[tuple[float, str, str, str]]:
        """`signature()` with each event's data too (sorted `key=value` text), less the fields that
        name the host (`HOST_FIELDS`: URLs with ports): two runs of one seed give equal traces."""
        return [(e.t, e.kind, e.subject,
                 " ".join(f"{k}={v!r}" for k, v in sorted(e.data.items()) if k not in HOST_FIELDS))
                for e in self._events if not e.kind.startswith(exclude_prefixes)]
