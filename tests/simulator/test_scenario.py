"""Scenario files: the shipped ones fit the sample park; mistakes are reported with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from maps import load_park, sample_park_path
from simulator.runner import DEFAULT_ROBOTS
from simulator.scenario import (
    SCENARIO_NAMES,
    ScenarioError,
    SpawnPerson,
    check_references,
    load_scenario,
    parse_scenario,
)

HEAD = 'name: t\nstart: "2026-03-16T23:00:00+08:00"\nduration_s: 60\n'


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_shipped_scenarios_load_and_fit_the_sample_park(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.duration_s > 0 and scenario.start.utcoffset() is not None
    park = load_park(sample_park_path())
    assert check_references(scenario, park, [r.serial for r in DEFAULT_ROBOTS]) == []
    assert all(step.at <= scenario.duration_s for step in scenario.timeline)


def test_steps_are_typed_and_sorted() -> None:
    s = parse_scenario(HEAD + "timeline:\n  - {at: 9, do: fall, person: a}\n"
                       "  - {at: 1, do: person, id: a, route: [gate_north, canteen]}\n")
    steps = s.steps()
    assert isinstance(steps[0], SpawnPerson) and steps[0].speed == 1.3 and steps[1].do == "fall"


def test_every_mistake_is_reported_with_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        HEAD
        + "colour: red\n"
        + "timeline:\n"
        + "  - {at: 1, do: fall}\n"
        + "  - {at: -2, do: sensor, sensor: s1, values: {smoke: true}}\n"
        + "  - {at: 3, do: teleport, robot: dog-01}\n"
        + "  - at: 4\n    do: estop\n    robot: dog-01\n    duration: 5\n",
        encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "5 problem(s)" in text
    assert f"{path}:4: colour: Extra inputs are not permitted" in text
    assert f"{path}:6: timeline[0].person: Field required" in text
    assert f"{path}:7: timeline[1].at: Input should be greater than or equal to 0" in text
    assert f"{path}:8: timeline[2]" in text and "teleport" in text
    assert f"{path}:12: timeline[3].duration: Extra inputs are not permitted" in text


def test_yaml_errors_and_missing_files_are_reported() -> None:
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("name: [unclosed\n", "x.yaml")
    with pytest.raises(ScenarioError, match="a scenario is a mapping"):
        parse_scenario("- 1\n", "x.yaml")
    with pytest.raises(ScenarioError, match=r"cannot read scenario .*shipped scenarios: quiet_night"):
        load_scenario("/nonexistent/scenario.yaml")


def test_unknown_names_are_all_reported_against_the_park() -> None:
    s = parse_scenario(HEAD + "timeline:\n"
                       "  - {at: 1, do: person, id: a, route: [gate_north, nowhere_at_all]}\n"
                       "  - {at: 2, do: fall, person: b}\n"
                       "  - {at: 3, do: sensor, sensor: no_such_sensor, values: {smoke: true}}\n"
                       "  - {at: 4, do: camera_drop, camera: cam_nope}\n"
                       "  - {at: 5, do: low_battery, robot: dog-99}\n"
                       "  - {at: 6, do: walk, person: a, route: [atlantis]}\n"
                       "  - {at: 0.5, do: walk, person: a, route: [canteen]}\n")
    problems = check_references(s, load_park(sample_park_path()), ["dog-01"])
    assert len(problems) == 7
    assert "timeline[6]" in problems.pop(0) and "atlantis" in problems.pop()  # sorted by time
    assert "nowhere_at_all" in problems[0] and "'b' is not spawned" in problems[1]
    assert "no_such_sensor" in problems[2] and "cam_nope" in problems[3] and "dog-99" in problems[4]


async def test_ambient_visitors_by_day_and_intruders_by_night_are_seeded() -> None:
    from robots.clock import SimClock
    from simulator.events import EventLog
    from simulator.people import Crowd
    from simulator.world import Places

    places = Places(load_park(sample_park_path()))

    async def run(seed: int, daytime: bool) -> list[tuple[float, str, str]]:
        clock = SimClock()
        log = EventLog(clock)
        crowd = Crowd(places, clock, seed=seed, events=log, visitors_per_hour=120, intruders_per_hour=60,
                      is_daytime=lambda: daytime)
        for _ in range(1200):
            await clock.advance(1.0)
            crowd.step(1.0)
        return log.signature()

    day, night = await run(1, True), await run(1, False)
    assert day == await run(1, True) and day != await run(2, True)
    assert {s.split("-")[0] for _, k, s in day if k == "person.spawn"} == {"visitor"}
    assert {s.split("-")[0] for _, k, s in night if k == "person.spawn"} == {"intruder"}


async def test_walk_step_sends_a_standing_person_on() -> None:
    from robots.clock import SimClock
    from simulator.people import Crowd
    from simulator.world import Places

    clock = SimClock()
    crowd = Crowd(Places(load_park(sample_park_path())), clock)
    crowd.spawn("i1", "intruder", ["xy:0,0", "xy:10,0"], speed=1.0, stay=True)
    for _ in range(30):
        crowd.step(1.0)
    assert crowd.locate("i1") == (10.0, 0.0)  # arrived and stays
    crowd.walk_on("i1", ["xy:10,20"])
    for _ in range(10):
        crowd.step(1.0)
    assert crowd.locate("i1") == (10.0, 10.0)
    for _ in range(15):
        crowd.step(1.0)
    assert crowd.locate("i1") is None  # arrived and left the park
