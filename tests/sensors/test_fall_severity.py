"""A fallen person seen by a camera is urgent anywhere and at any hour: a major alarm that sends a robot,
where a person standing in an unarmed place only gets a warning."""

from __future__ import annotations

from patrol.alarms.model import AlarmType, Severity
from tests.alarms.harness import Harness
from vision.events import EventState, MapPosition, VisionEvent

NO_ZONE = (40.0, 20.0)  # on the test park, in no zone: never armed


def event(camera: str, label: str, rules: list[str], t: float) -> bytes:
    state = EventState(id=f"ev-{camera}", camera=camera, label=label, score=0.8, top_score=0.8, box=[1, 2, 30, 90],
                       area=2000, zones=[], current_zones=[], rules=rules, start_time=t,
                       position=MapPosition(x=NO_ZONE[0], y=NO_ZONE[1]), robot=camera.split("-front")[0])
    return VisionEvent(type="new", before=state, after=state).model_dump_json().encode()


async def test_a_fall_is_major_and_dispatches_where_a_person_is_only_a_warning(harness: Harness) -> None:
    s = harness.sensors
    now = harness.clock.now()
    await s.handle_message("parkpatrol/vision/events", event("dog-1-front", "person", [], now))
    await s.handle_message("parkpatrol/vision/events", event("dog-2-front", "person_fallen", ["fall"], now))
    await harness.alarms.drain()
    standing = await harness.alarms.active_alarm("camera:dog-1-front", AlarmType.VISION)
    fallen = await harness.alarms.active_alarm("camera:dog-2-front", AlarmType.VISION)
    assert standing is not None and standing.severity == Severity.WARNING and standing.zone is None
    assert fallen is not None and fallen.severity == Severity.MAJOR and fallen.details["rules"] == ["fall"]
    assert [call[0] for call in harness.dispatch.calls] == [fallen.incident_id]


async def test_a_person_who_falls_later_raises_the_warning_and_sends_a_robot(harness: Harness) -> None:
    """The same event id goes from a standing person (a warning outside armed zones, nobody sent) to a
    fallen one: the alarm and its incident become major and the incident is dispatched once."""
    s = harness.sensors
    now = harness.clock.now()
    standing = event("dog-1-front", "person", [], now)
    await s.handle_message("parkpatrol/vision/events", standing)
    await harness.alarms.drain()
    alarm = await harness.alarms.active_alarm("camera:dog-1-front", AlarmType.VISION)
    assert alarm is not None and alarm.severity == Severity.WARNING and harness.dispatch.calls == []
    before = VisionEvent.model_validate_json(standing).after
    fallen = before.model_copy(update={"label": "person_fallen", "rules": ["fall"]})
    update = VisionEvent(type="update", before=before, after=fallen).model_dump_json().encode()
    await s.handle_message("parkpatrol/vision/events", update)
    await s.handle_message("parkpatrol/vision/events", update)  # redelivered: noted, not raised or sent again
    await harness.alarms.drain()
    raised = await harness.alarms.active_alarm("camera:dog-1-front", AlarmType.VISION)
    assert raised is not None and raised.id == alarm.id and raised.severity == Severity.MAJOR
    assert raised.incident_id is not None
    assert [call[0] for call in harness.dispatch.calls] == [raised.incident_id]
    timeline = (await harness.alarms.get_alarm(raised.id)).timeline
    kinds = [e.kind for e in timeline]
    assert kinds[:2] == ["raised", "severity_raised"] and kinds.count("severity_raised") == 1
    assert (timeline[1].detail["from"], timeline[1].detail["to"]) == (Severity.WARNING.value, Severity.MAJOR.value)
    incident = await harness.alarms.get_incident(raised.incident_id)
    assert incident.severity == Severity.MAJOR
    assert [e.kind for e in incident.timeline].count("dispatch_requested") == 1
