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
