"""Scenarios: YAML timelines of who appears where and when, and which faults happen.

```yaml
name: fall_near_canteen
start: "2026-03-16T12:10:00+08:00"   # park local time when the scenario starts
duration_s: 600
seed: 3
timeline:
  - {at: 5, do: person, id: diner-1, role: visitor, route: [gate_north, canteen], speed: 1.2, stay: true}
  - {at: 200, do: fall, person: diner-1}
expect:
  - {kind: alarm, type: fall, within_s: 60}
```

Validated with pydantic (`extra="forbid"`): an error names the file, the line and the key
(`timeline[1].person: Field required`). `check_references()` then checks the names against the
park and the robots and reports every unknown one at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from maps import Park, resolve_place

SCENARIO_NAMES = ("quiet_night", "intrusion_data_labelling", "fall_near_canteen", "robot_battery_failure",
                  "broker_restart")


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message lists every problem with its place."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Step(_Model):
    at: float = Field(ge=0, description="seconds after the scenario starts")


class SpawnPerson(_Step):
    do: Literal["person"]
    id: str = Field(min_length=1)
    role: Literal["visitor", "intruder", "staff"] = "visitor"
    route: list[str] = Field(min_length=1, description="places: POI/waypoint id or name, 'xy:X,Y', 'lat,lon'")
    speed: float = Field(default=1.3, gt=0, le=8)
    appearance: int | None = None
    stay: bool = False


class PersonWalk(_Step):
    do: Literal["walk"]
    person: str
    route: list[str] = Field(min_length=1)
    stay: bool = False


class PersonFall(_Step):
    do: Literal["fall"]
    person: str


class PersonLeave(_Step):
    do: Literal["leave"]
    person: str


class SensorValues(_Step):
    do: Literal["sensor"]
    sensor: str
    values: dict[str, bool | int | float | str] = Field(min_length=1)


class SensorSilent(_Step):
    do: Literal["sensor_silent"]
    sensor: str
    duration_s: float | None = Field(default=None, gt=0)


class RobotDisconnect(_Step):
    do: Literal["robot_disconnect"]
    robot: str
    duration_s: float = Field(default=30.0, gt=0)


class RobotStuck(_Step):
    do: Literal["robot_stuck"]
    robot: str
    duration_s: float | None = Field(default=None, gt=0)


class EStop(_Step):
    do: Literal["estop"]
    robot: str
    duration_s: float | None = Field(default=None, gt=0)


class LowBattery(_Step):
    do: Literal["low_battery"]
    robot: str
    charge: float = Field(default=8.0, ge=0, le=100)


class LocalisationJump(_Step):
    do: Literal["localisation_jump"]
    robot: str
    dx: float = 15.0
    dy: float = 0.0
    relocalise_after_s: float = Field(default=10.0, ge=0)


class CameraDrop(_Step):
    do: Literal["camera_drop"]
    camera: str
    duration_s: float = Field(default=30.0, gt=0)


class BrokerRestart(_Step):
    do: Literal["broker_restart"]
    down_s: float = Field(default=5.0, ge=0)


Step = Annotated[
    SpawnPerson | PersonWalk | PersonFall | PersonLeave | SensorValues | SensorSilent | RobotDisconnect
    | RobotStuck | EStop | LowBattery | LocalisationJump | CameraDrop | BrokerRestart,
    Field(discriminator="do"),
]


class Expectation(_Model):
    """An outcome the service should show (checked by the lead's integration tests)."""

    kind: Literal["alarm", "no_alarm", "dispatch", "incident_closed", "robot_offline", "robot_charging"]
    type: str | None = None
    zone: str | None = None
    robot: str | None = None
    within_s: float = Field(default=120.0, gt=0)


class Ambient(_Model):
    visitors_per_hour: float = Field(default=0.0, ge=0, description="visitors between POIs, 08:00-18:00")
    intruders_per_hour: float = Field(default=0.0, ge=0, description="intruders over the fence, at night")


class Scenario(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    start: AwareDatetime
    duration_s: float = Field(gt=0)
    seed: int = 0
    ambient: Ambient = Field(default_factory=Ambient)
    timeline: list[Step] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)

    @property
    def start_epoch(self) -> float:
        return self.start.timestamp()

    def steps(self) -> list[Step]:
        """Timeline in time order (stable for equal times)."""
        return sorted(self.timeline, key=lambda s: s.at)


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the YAML node at `loc` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            match = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
            if match is None:
                nxt = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
                return nxt.start_mark.line + 1 if nxt is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            continue  # discriminator tags in pydantic locations have no YAML node
        line = node.start_mark.line + 1
    return line


def _loc_text(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate a scenario from YAML text; `ScenarioError` lists every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with name, start, duration_s, timeline")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = _clean_loc(err["loc"])
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            lines.append(f"{where}: {_loc_text(loc)}: {err['msg']}")
        raise ScenarioError(f"{len(lines)} problem(s) in scenario {source}:\n  " + "\n  ".join(lines)) from None


_STEP_TAGS = frozenset({
    "person", "walk", "fall", "leave", "sensor", "sensor_silent", "robot_disconnect", "robot_stuck", "estop",
    "low_battery", "localisation_jump", "camera_drop", "broker_restart",
})


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    """Pydantic's location without the union tag it inserts after `timeline[i]`."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in _STEP_TAGS and i >= 2 and isinstance(loc[i - 1], int) \
                and loc[i - 2] == "timeline":
            continue
        if isinstance(part, str | int):
            out.append(part)
    return out


def load_scenario(path: str | Path) -> Scenario:
    """A scenario file, or the name of a shipped scenario (`quiet_night`, ...)."""
    p = Path(path)
    if not p.exists() and str(path) in SCENARIO_NAMES:
        p = scenario_path(str(path))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {p}: {exc.strerror}; shipped scenarios: "
                            f"{', '.join(SCENARIO_NAMES)}") from None
    return parse_scenario(text, str(p))


def scenario_path(name: str) -> Path:
    """Path of a shipped scenario."""
    if name not in SCENARIO_NAMES:
        raise ScenarioError(f"no shipped scenario {name!r}; choose one of {', '.join(SCENARIO_NAMES)}")
    with as_file(files("simulator.scenarios").joinpath(f"{name}.yaml")) as p:
        return Path(p)


def check_references(scenario: Scenario, park: Park, robots: Iterable[str]) -> list[str]:
    """Every name in the scenario that the park or the robot list does not know (empty: all fine)."""
    robot_set = set(robots)
    problems: list[str] = []
    people: set[str] = set()
    for i, step in sorted(enumerate(scenario.timeline), key=lambda item: item[1].at):
        where = f"timeline[{i}] ({step.do} at {step.at:g}s)"
        if isinstance(step, SpawnPerson):
            people.add(step.id)
        if isinstance(step, PersonWalk | PersonFall | PersonLeave) and step.person not in people:
            problems.append(f"{where}: person {step.person!r} is not spawned by an earlier step")
        if isinstance(step, SpawnPerson | PersonWalk):
            for place in step.route:
                if place.startswith("xy:"):
                    continue
                try:
                    resolve_place(park, place)
                except LookupError as exc:
                    problems.append(f"{where}: route place {place!r}: {exc}")
        elif isinstance(step, SensorValues | SensorSilent) and step.sensor not in park.sensors:
            problems.append(f"{where}: sensor {step.sensor!r} is not on the map")
        elif isinstance(step, CameraDrop) and step.camera not in park.cameras:
            problems.append(f"{where}: camera {step.camera!r} is not on the map")
        elif hasattr(step, "robot") and step.robot not in robot_set:
            problems.append(f"{where}: robot {step.robot!r} is not simulated "
                            f"(robots: {', '.join(sorted(robot_set))})")
    return problems


__all__ = [
    "SCENARIO_NAMES",
    "Ambient",
    "BrokerRestart",
    "CameraDrop",
    "EStop",
    "Expectation",
    "LocalisationJump",
    "LowBattery",
    "PersonFall",
    "PersonLeave",
    "PersonWalk",
    "RobotDisconnect",
    "RobotStuck",
    "Scenario",
    "ScenarioError",
    "SensorSilent",
    "SensorValues",
    "SpawnPerson",
    "Step",
    "check_references",
    "load_scenario",
    "parse_scenario",
    "scenario_path",
]
