"""Per-camera rules: which tracked objects are where they should not be, for how long, and how many.

Zones are polygons in image pixels, or map polygons (metres) tested against the ground point of an
object's feet through the camera's image->ground homography. Each zone may carry a schedule
`active(now) -> bool` (e.g. restricted only at night); a zone without one is always active.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vision.geometry import Homography, Point, point_in_polygon
from vision.tracking import TrackedObject

RuleKind = Literal["restricted_zone", "loitering", "fall", "crowd"]
PERSON_LABELS = frozenset({"person", "person_fallen"})
Schedule = Callable[[float], bool]


@dataclass(frozen=True)
class Zone:
    """A named area: `image` polygon (pixels) or `ground` polygon (map metres)."""

    name: str
    polygon: tuple[Point, ...]
    space: Literal["image", "ground"] = "image"
    active: Schedule | None = None

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r}: a polygon needs at least 3 points, got {len(self.polygon)}")

    def is_active(self, now: float) -> bool:
        return True if self.active is None else bool(self.active(now))


@dataclass(frozen=True)
class Rule:
    """One rule of a camera.

    - restricted_zone: a person inside `zone` while the zone's schedule is active.
    - loitering: a person inside `zone` (or anywhere if None) for longer than `seconds`.
    - fall: a fallen person (inside `zone` if given).
    - crowd: more than `max_people` people inside `zone` (or the whole view).
    """

    kind: RuleKind
    zone: str | None = None
    seconds: float = 60.0
    max_people: int = 5
    labels: frozenset[str] = PERSON_LABELS

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.zone}" if self.zone else self.kind


@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    object_ids: tuple[str, ...]


@dataclass
class Evaluation:
    """Result of one rule pass: zones per object, hits per object, and crowd hits."""

    zones: dict[str, list[str]] = field(default_factory=dict)
    hits: dict[str, list[Rule]] = field(default_factory=dict)
    crowd: list[RuleHit] = field(default_factory=list)


class RuleEngine:
    """Evaluates the rules of one camera over its tracked objects."""

    def __init__(self, zones: Sequence[Zone] = (), rules: Sequence[Rule] = (),
                 homography: Homography | None = None, *, moving_camera: bool = False) -> None:
        """`moving_camera`: the homography is set per frame from a robot's pose (may be None until then)."""
        self.zones = {z.name: z for z in zones}
        self.rules = list(rules)
        self.homography = homography
        for r in self.rules:
            if r.zone is not None and r.zone not in self.zones:
                raise ValueError(f"rule {r.name}: unknown zone {r.zone!r}; known: {sorted(self.zones)}")
        if homography is None and not moving_camera and any(z.space == "ground" for z in zones):
            raise ValueError("map (ground) zones need the camera's image->ground homography")
        self._zone_entered: dict[tuple[str, str], float] = {}

    def ground_point(self, obj: TrackedObject) -> Point | None:
        if self.homography is None:
            return None
        return self.homography.to_ground(*obj.box.foot)

    def zones_of(self, obj: TrackedObject) -> list[str]:
        foot = obj.box.foot
        ground: Point | None = None
        inside = []
        for z in self.zones.values():
            if z.space == "image":
                hit = point_in_polygon(foot, z.polygon)
            else:
                ground = ground if ground is not None else self.ground_point(obj)
                hit = ground is not None and point_in_polygon(ground, z.polygon)
            if hit:
                inside.append(z.name)
        return inside

    def evaluate(self, objects: Sequence[TrackedObject], now: float) -> Evaluation:
        ev = Evaluation()
        present: set[tuple[str, str]] = set()
        for obj in objects:
            zones = self.zones_of(obj)
            ev.zones[obj.id] = zones
            for z in [*zones, "*"]:
                key = (obj.id, z)
                present.add(key)
                self._zone_entered.setdefault(key, now)
        for key in list(self._zone_entered):
            if key not in present:
                del self._zone_entered[key]
        for obj in objects:
            if not obj.confirmed:
                continue
            zones = ev.zones[obj.id]
            for rule in self.rules:
                if rule.kind != "crowd" and self._hits(rule, obj, zones, now):
                    ev.hits.setdefault(obj.id, []).append(rule)
        for rule in self.rules:
            if rule.kind != "crowd":
                continue
            members = tuple(o.id for o in objects if o.confirmed and o.label in rule.labels
                            and (rule.zone is None or rule.zone in ev.zones[o.id]))
            if len(members) > rule.max_people:
                ev.crowd.append(RuleHit(rule, members))
        return ev

    def _hits(self, rule: Rule, obj: TrackedObject, zones: list[str], now: float) -> bool:
        if obj.label not in rule.labels:
            return False
        if rule.zone is not None and rule.zone not in zones:
            return False
        if rule.kind == "restricted_zone":
            return rule.zone is not None and self.zones[rule.zone].is_active(now)
        if rule.kind == "loitering":
            since = self._zone_entered.get((obj.id, rule.zone or "*"), now)
            return now - since >= rule.seconds
        if rule.kind == "fall":
            return obj.label == "person_fallen"
        return False
