"""Simulated people: visitors by day, intruders by night, someone who falls. Seeded, reproducible.

People walk along polylines (usually the park's paths) at walking pace. Scenario events spawn
scripted people; an optional ambient rate adds visitors between POIs during the day. Every
spawn, arrival, fall and exit lands in the event log.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from robots.clock import Clock
from simulator.events import EventLog
from simulator.render import PersonPose
from simulator.world import Places, Point, Walk

log = logging.getLogger(__name__)

Role = Literal["visitor", "intruder", "staff"]


@dataclass
class Person:
    person_id: str
    role: Role
    walk: Walk
    speed: float
    appearance: int
    travelled: float = 0.0
    fallen: bool = False
    gone: bool = False
    stay: bool = False  # stays at the end of the walk instead of leaving the park
    arrived: bool = False
    x: float = 0.0
    y: float = 0.0
    heading: float = 0.0

    def __post_init__(self) -> None:
        self.x, self.y = self.walk.polyline[0]

    def pose(self) -> PersonPose:
        return PersonPose(self.person_id, self.x, self.y, fallen=self.fallen, appearance=self.appearance)


def _point_along(line: Sequence[Point], s: float) -> tuple[float, float, float, bool]:
    """(x, y, heading, at_end) at distance `s` along `line`."""
    for a, b in itertools.pairwise(line):
        seg = math.dist(a, b)
        if s <= seg:
            f = s / seg if seg > 0 else 1.0
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, math.atan2(b[1] - a[1], b[0] - a[0]), False
        s -= seg
    end = line[-1]
    prev = line[-2] if len(line) > 1 else end
    return end[0], end[1], math.atan2(end[1] - prev[1], end[0] - prev[0]), True


class Crowd:
    """Everyone in the park, moved on the clock."""

    def __init__(self, places: Places, clock: Clock, *, seed: int = 0, events: EventLog | None = None,
                 visitors_per_hour: float = 0.0, intruders_per_hour: float = 0.0,
                 is_daytime: Callable[[], bool] | None = None) -> None:
        self.places = places
        self._clock = clock
        self._rng = random.Random(seed)
        self._events = events
        self._people: dict[str, Person] = {}
        self.visitors_per_hour = visitors_per_hour
        self._is_daytime = is_daytime or (lambda: True)
        self.intruders_per_hour = intruders_per_hour
        self._next_ambient: float | None = None
        self._next_intruder: float | None = None
        self._ambient_count = 0
        self._intruder_count = 0
        park = places.park
        # intruders climb in over the boundary fence and head for a restricted zone's middle
        ring = list(park.boundary)
        self._entries = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(ring)]
        self._targets = [(z.shape.centroid.x, z.shape.centroid.y) for z in park.zones.values()
                         if z.kind in ("restricted", "after_hours")]
        pois = list(places.park.pois.values())
        self._destinations = [p.id for p in pois if p.category not in ("restricted facility", "utility")]
        self._gates = [p.id for p in pois if p.category == "gate"] or [p.id for p in pois[:1]]

    # ------------------------------------------------------------------ queries
    def people(self) -> list[Person]:
        return [p for p in self._people.values() if not p.gone]

    def poses(self) -> list[PersonPose]:
        return [p.pose() for p in self.people()]

    def positions(self) -> list[tuple[str, float, float]]:
        return [(p.person_id, p.x, p.y) for p in self.people()]

    def locate(self, person_id: str) -> Point | None:
        p = self._people.get(person_id)
        return None if p is None or p.gone else (p.x, p.y)

    # ------------------------------------------------------------------ script
    def spawn(self, person_id: str, role: Role, route: list[str], *, speed: float = 1.3,
              appearance: int | None = None, stay: bool = False) -> Person:
        if person_id in self._people and not self._people[person_id].gone:
            raise ValueError(f"person {person_id!r} is already in the park")
        walk = self.places.walk(route)
        person = Person(person_id, role, walk, speed,
                        self._rng.randrange(1000) if appearance is None else appearance, stay=stay)
        self._people[person_id] = person
        self._record("person.spawn", person_id, role=role, x=round(person.x, 2), y=round(person.y, 2),
                     to=route[-1], metres=round(walk.length, 1))
        return person

    def walk_on(self, person_id: str, route: list[str], *, stay: bool = False) -> None:
        """Send someone already in the park along a new route, from where they are now."""
        p = self._people.get(person_id)
        if p is None or p.gone:
            raise KeyError(f"person {person_id!r} is not in the park; spawn them first")
        p.walk = self.places.walk([f"xy:{p.x:.3f},{p.y:.3f}", *route])
        p.travelled, p.arrived, p.stay, p.fallen = 0.0, False, stay, False
        self._record("person.walk", person_id, x=round(p.x, 2), y=round(p.y, 2), to=route[-1],
                     metres=round(p.walk.length, 1))

    def fall(self, person_id: str) -> None:
        p = self._people.get(person_id)
        if p is None or p.gone:
            raise KeyError(f"person {person_id!r} is not in the park; spawn them before they fall")
        p.fallen = True
        self._record("person.fall", person_id, x=round(p.x, 2), y=round(p.y, 2))

    def get_up(self, person_id: str) -> None:
        p = self._people[person_id]
        p.fallen = False
        self._record("person.get_up", person_id)

    def remove(self, person_id: str) -> None:
        p = self._people.get(person_id)
        if p is not None and not p.gone:
            p.gone = True
            self._record("person.exit", person_id, x=round(p.x, 2), y=round(p.y, 2))

    # ------------------------------------------------------------------ motion
    def step(self, dt: float) -> None:
        for p in self.people():
            if p.fallen:
                continue
            p.travelled += p.speed * dt
            x, y, heading, at_end = _point_along(p.walk.polyline, p.travelled)
            p.x, p.y, p.heading = x, y, heading
            if at_end and not p.arrived:
                p.arrived = True
                self._record("person.arrive", p.person_id, x=round(x, 2), y=round(y, 2))
                if not p.stay:
                    self.remove(p.person_id)
        self._ambient()

    def _ambient(self) -> None:
        self._ambient_intruder()
        if self.visitors_per_hour <= 0:
            return
        now = self._clock.now()
        if self._next_ambient is None:
            self._next_ambient = now + self._rng.expovariate(self.visitors_per_hour / 3600.0)
            return
        if now < self._next_ambient:
            return
        self._next_ambient = now + self._rng.expovariate(self.visitors_per_hour / 3600.0)
        if not self._is_daytime() or len(self._destinations) < 1:
            return
        self._ambient_count += 1
        gate = self._rng.choice(self._gates)
        dest = self._rng.choice(self._destinations)
        back = self._rng.choice(self._gates)
        try:
            self.spawn(f"visitor-{self._ambient_count:03d}", "visitor", [gate, dest, back],
                       speed=self._rng.uniform(1.0, 1.5))
        except (LookupError, ValueError) as exc:
            log.warning("ambient visitor not spawned (%s -> %s): %s", gate, dest, exc)

    def _ambient_intruder(self) -> None:
        if self.intruders_per_hour <= 0 or not self._entries or not self._targets:
            return
        now = self._clock.now()
        if self._next_intruder is None:
            self._next_intruder = now + self._rng.expovariate(self.intruders_per_hour / 3600.0)
            return
        if now < self._next_intruder:
            return
        self._next_intruder = now + self._rng.expovariate(self.intruders_per_hour / 3600.0)
        if self._is_daytime():
            return
        self._intruder_count += 1
        ex, ey = self._rng.choice(self._entries)
        tx, ty = self._rng.choice(self._targets)
        # start a few metres outside the fence, on the line from the target through the entry point
        d = math.hypot(ex - tx, ey - ty) or 1.0
        ox, oy = ex + (ex - tx) / d * 15.0, ey + (ey - ty) / d * 15.0
        outside, target = f"xy:{ox:.1f},{oy:.1f}", f"xy:{tx:.1f},{ty:.1f}"
        self.spawn(f"intruder-{self._intruder_count:03d}", "intruder", [outside, target, outside],
                   speed=self._rng.uniform(1.1, 1.6))

    async def run(self, tick_s: float = 0.5, on_tick: Callable[[], Awaitable[None]] | None = None) -> None:
        last = self._clock.now()
        while True:
            await self._clock.sleep(tick_s)
            now = self._clock.now()
            self.step(now - last)
            last = now
            if on_tick is not None:
                await on_tick()

    def _record(self, kind: str, subject: str, **data: str | float | bool | None) -> None:
        if self._events is not None:
            self._events.record(kind, subject, **data)
