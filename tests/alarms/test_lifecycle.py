"""Alarm lifecycle, incidents, dispatch policy, arming and escalation on the real store (SQLite)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from patrol.alarms.live import LiveEvent
from patrol.alarms.model import (
    Actor,
    AlarmSignal,
    AlarmStatus,
    AlarmType,
    ArmingMode,
    EscalationAction,
    RobotCondition,
    Severity,
)
from patrol.alarms.policy import AlarmPolicy, EscalationStep
from patrol.alarms.service import AlarmStateError
from patrol.alarms.tables import AlarmRow
from robots.clock import SimClock
from tests.alarms.harness import DAYTIME, OFFICE_POINT, FakeDispatch, FakePublisher, Harness, make_harness

OPERATOR = Actor("olga", "operator", "10.0.0.7")


def door(event: str = "sensor_trip", source: str = "sensor:door_tp_lab") -> AlarmSignal:
    return AlarmSignal(source, AlarmType.INTRUSION, event, zone="tz_office", position=(20.0, 42.0))


async def test_repeat_updates_the_active_alarm(harness: Harness) -> None:
    first = await harness.alarms.signal(door())
    await harness.clock.advance(30)
    again = await harness.alarms.signal(door())
    assert again.id == first.id and again.count == 2 and again.last_at > first.last_at
    assert await harness.alarms.count_active() == 1
    assert first.status == AlarmStatus.ACTIVE_UNACK and first.severity == Severity.MAJOR


async def test_database_refuses_a_second_active_alarm(harness: Harness) -> None:
    await harness.alarms.signal(door())
    with pytest.raises(IntegrityError):
        async with harness.store.sessions.begin() as session:
            session.add(AlarmRow(source="sensor:door_tp_lab", type="intrusion", severity="MAJOR", active=True,
                                 acked=False, message="", count=1, first_at=(await harness.alarms.list_alarms())[0]
                                 .first_at, last_at=(await harness.alarms.list_alarms())[0].first_at,
                                 escalation_level=0, details={}))


async def test_operator_actions_statuses_and_timeline(harness: Harness) -> None:
    alarm = await harness.alarms.signal(door())
    acked = await harness.alarms.ack(alarm.id, OPERATOR)
    assert acked.status == AlarmStatus.ACTIVE_ACK and acked.acked_by == "olga"
    with pytest.raises(AlarmStateError):
        await harness.alarms.ack(alarm.id, OPERATOR)
    await harness.alarms.assign(alarm.id, "guard-2", OPERATOR)
    await harness.alarms.comment(alarm.id, "guard on the way", OPERATOR)
    cleared = await harness.alarms.clear(alarm.id, OPERATOR, "false alarm: cleaner")
    assert cleared.status == AlarmStatus.CLEARED_ACK and cleared.assignee == "guard-2"
    detail = await harness.alarms.get_alarm(alarm.id)
    assert [e.kind for e in detail.timeline] == ["raised", "ack", "assign", "comment", "cleared"]
    # a new trip after clearing is a new alarm
    assert (await harness.alarms.signal(door())).id != alarm.id
    actions = [e.action for e in await harness.audit.entries(actor="olga")]
    assert actions == ["alarm.clear", "alarm.comment", "alarm.assign", "alarm.ack"]
    assert all(e.remote == "10.0.0.7" and e.role == "operator" for e in await harness.audit.entries(actor="olga"))


async def test_condition_end_clears_only_self_clearing_types(harness: Harness) -> None:
    smoke = await harness.alarms.signal(AlarmSignal("sensor:s1", AlarmType.SMOKE, "sensor_trip"))
    assert smoke.severity == Severity.CRITICAL
    ended = await harness.alarms.condition_ended("sensor:s1", AlarmType.SMOKE, {})
    assert ended is not None and ended.status == AlarmStatus.CLEARED_UNACK
    await harness.alarms.signal(door())
    assert await harness.alarms.condition_ended("sensor:door_tp_lab", AlarmType.INTRUSION, {}) is None
    assert await harness.alarms.count_active() == 1


async def test_robot_conditions(harness: Harness) -> None:
    alarm = await harness.alarms.robot_condition("dog-7", RobotCondition.ESTOP, True, "button pressed", 1.0, 2.0)
    assert alarm is not None and alarm.type == AlarmType.ROBOT_ESTOP and alarm.source == "robot:dog-7"
    assert alarm.incident_id is None  # technical alarms do not open incidents or dispatch
    assert harness.dispatch.calls == []
    cleared = await harness.alarms.robot_condition("dog-7", "estop", False)
    assert cleared is not None and not cleared.active


async def test_incident_groups_by_zone_and_distance_within_window(harness: Harness) -> None:
    a = await harness.alarms.signal(door())
    await harness.alarms.drain()  # dispatch runs in the background
    vision = AlarmSignal("camera:cam_test", AlarmType.VISION, "camera_event", position=OFFICE_POINT,
                         detail={"event_id": "e1", "snapshot": "/api/vision/events/e1/snapshot.jpg"})
    b = await harness.alarms.signal(vision)
    near = AlarmSignal("sensor:x", AlarmType.TAMPER, "sensor_trip", position=(22.0, 40.0))  # 2.8 m away
    c = await harness.alarms.signal(near)
    assert a.incident_id is not None and a.incident_id == b.incident_id == c.incident_id
    assert b.zone == "tz_office"
    incident = await harness.alarms.get_incident(a.incident_id)
    kinds = [e.kind for e in incident.timeline]
    assert kinds[:4] == ["opened", "sensor_trip", "dispatch_requested", "robot_dispatched"]
    assert kinds.count("camera_event") == 1
    snapshot = next(e for e in incident.timeline if e.kind == "camera_event").detail["snapshot"]
    assert snapshot == "/api/vision/events/e1/snapshot.jpg"
    assert len(harness.dispatch.calls) == 1 and incident.robot_id == "dog-1"
    # outside the window a trip in the same zone starts a new incident
    await harness.alarms.clear(a.id, OPERATOR)
    await harness.clock.advance(harness.alarms.policy.incident_window_s + 1)
    later = await harness.alarms.signal(door())
    assert later.incident_id not in (None, a.incident_id)


async def test_dispatch_policy_and_retry_when_no_robot(database: str) -> None:
    dispatch = FakeDispatch(robot=None)
    policy = AlarmPolicy(no_dispatch_zones=frozenset({"tz_lawn"}), incident_radius_m=5.0)
    h = await make_harness(database, SimClock(DAYTIME), dispatch=dispatch, policy=policy)
    try:
        await h.alarms.signal(AlarmSignal("sensor:w", AlarmType.TAMPER, "sensor_trip", position=(0.0, 0.0)))
        assert dispatch.calls == []  # MINOR is below the dispatch threshold
        await h.alarms.signal(AlarmSignal("sensor:p", AlarmType.INTRUSION, "sensor_trip", zone="tz_lawn",
                                          position=(40.0, 30.0)))
        assert dispatch.calls == []  # zone excluded by policy
        first = await h.alarms.signal(door())
        await h.alarms.drain()
        assert len(dispatch.calls) == 1
        dispatch.robot = "dog-2"
        await h.alarms.signal(AlarmSignal("camera:cam_test", AlarmType.VISION, "camera_event",
                                          position=OFFICE_POINT))
        await h.alarms.drain()
        assert len(dispatch.calls) == 2  # retried after "no robot available"
        assert first.incident_id is not None
        incident = await h.alarms.get_incident(first.incident_id)
        assert incident.robot_id == "dog-2"
        assert [e.kind for e in incident.timeline].count("dispatch_failed") == 1
    finally:
        await h.close()


async def test_robot_arrival_and_photo_on_timeline(harness: Harness) -> None:
    alarm = await harness.alarms.signal(door())
    assert alarm.incident_id is not None
    await harness.alarms.drain()
    await harness.alarms.robot_arrived(alarm.incident_id, "dog-1", 20.0, 42.5)
    await harness.alarms.robot_photo(alarm.incident_id, "dog-1", "photos/dog-1/0001.jpg")
    kinds = [e.kind for e in (await harness.alarms.get_incident(alarm.incident_id)).timeline]
    assert kinds[-2:] == ["robot_arrived", "robot_photo"]
    await harness.alarms.clear(alarm.id, OPERATOR)
    closed = await harness.alarms.get_incident(alarm.incident_id)
    assert closed.status == "closed" and closed.timeline[-1].kind == "closed"


async def test_robot_reports_follow_the_incident_and_closing_it_recalls_the_robot(harness: Harness) -> None:
    alarm = await harness.alarms.signal(door())
    assert alarm.incident_id is not None
    await harness.alarms.drain()
    iid = alarm.incident_id
    # dog-1 is lost on its way; the dispatcher sent dog-2 instead
    await harness.alarms.robot_report(iid, "dog-1", "offline", {}, arrived_s=None, on_task_s=12.0,
                                      next_robot="dog-2")
    incident = await harness.alarms.get_incident(iid)
    assert incident.robot_id == "dog-2"
    assert [(e.kind, e.detail.get("robot")) for e in incident.timeline][-2:] == [
        ("robot_report", "dog-1"), ("robot_dispatched", "dog-2")]
    assert incident.timeline[-2].detail["outcome"] == "offline"
    # a report from a robot the incident no longer counts on changes nothing but the timeline
    await harness.alarms.robot_report(iid, "dog-1", "offline", {}, arrived_s=None, on_task_s=13.0)
    assert (await harness.alarms.get_incident(iid)).robot_id == "dog-2"
    # dog-2 is lost too and nobody is free: the incident waits; the dispatcher sends the first robot free
    await harness.alarms.robot_report(iid, "dog-2", "offline", {}, arrived_s=None, on_task_s=30.0)
    incident = await harness.alarms.get_incident(iid)
    assert incident.robot_id is None and incident.timeline[-1].kind == "dispatch_failed"
    await harness.alarms.robot_assigned(iid, "dog-1", 42.0)
    incident = await harness.alarms.get_incident(iid)
    assert incident.robot_id == "dog-1" and incident.timeline[-1].kind == "robot_dispatched"
    assert incident.timeline[-1].detail == {"robot": "dog-1", "waited_s": 42.0}
    assert len(harness.dispatch.calls) == 1, "the alarms do not ask again: the dispatcher keeps the incident"
    # the operator clears every alarm: the incident closes and its robot is recalled, once
    for a in incident.alarms:
        await harness.alarms.clear(a.id, OPERATOR)
    await harness.alarms.drain()
    assert harness.dispatch.recalls == [iid]
    await harness.alarms.robot_report(iid, "dog-1", "recalled", {"scanArea": "FAILED"}, arrived_s=None,
                                      on_task_s=40.0)
    closed = await harness.alarms.get_incident(iid)
    assert closed.status == "closed" and closed.robot_id == "dog-1"
    assert closed.timeline[-1].kind == "robot_report" and closed.timeline[-1].detail["outcome"] == "recalled"
    audit = [e.action for e in await harness.audit.entries(target=f"incident:{iid}")]
    assert "incident.recall" in audit and "incident.robot_report" in audit


async def test_arming_schedule_and_persistent_override(database: str) -> None:
    clock = SimClock(DAYTIME)
    h = await make_harness(database, clock)
    boss = Actor("sam", "supervisor", "10.0.0.9")
    try:
        assert not await h.alarms.arming.is_armed("tz_office")
        state = await h.alarms.arming.set_mode("tz_office", ArmingMode.ARMED, boss)
        assert state.armed and state.mode == ArmingMode.ARMED and state.set_by == "sam"
        assert not await h.alarms.arming.is_armed("tz_pond")  # no_go zones are not armable by schedule
        assert not await h.alarms.arming.is_armed(None)
    finally:
        await h.close()
    h2 = await make_harness(database, clock)  # restart: the override is kept
    try:
        assert await h2.alarms.arming.is_armed("tz_office")
        await h2.alarms.arming.set_mode("tz_office", ArmingMode.AUTO, boss)
        assert not await h2.alarms.arming.is_armed("tz_office")
        await clock.advance(12 * 3600)  # 23:00: the schedule arms it
        assert await h2.alarms.arming.is_armed("tz_office")
        entries = await h2.audit.entries(actor="sam")
        assert [e.action for e in entries] == ["zone.auto", "zone.armed"]
    finally:
        await h2.close()


async def test_escalation_levels_stop_on_ack_and_survive_restart(database: str) -> None:
    clock = SimClock(DAYTIME)
    policy = AlarmPolicy(escalation=(EscalationStep(after_s=60, action=EscalationAction.BANNER),
                                     EscalationStep(after_s=120, action=EscalationAction.SOUND),
                                     EscalationStep(after_s=600, action=EscalationAction.WEBHOOK)))
    h = await make_harness(database, clock, policy=policy)
    seen: list[LiveEvent] = []
    h.alarms.subscribe(seen.append)
    try:
        alarm = await h.alarms.signal(door())
        low = await h.alarms.signal(AlarmSignal("sensor:b", AlarmType.SENSOR_LOW_BATTERY, "sensor_battery"))
        assert await h.alarms.escalator.step() == clock.now() + 60
        await clock.advance(59)
        await h.alarms.escalator.step()
        assert h.alarms.escalator.fired == []
        await clock.advance(2)
        assert await h.alarms.escalator.step() == clock.now() + 59
        assert h.alarms.escalator.fired == [(alarm.id, 1, EscalationAction.BANNER)]
        assert [e.data["action"] for e in seen if e.kind == "escalation"] == ["banner"]
        assert (await h.alarms.get_alarm(alarm.id)).escalation == EscalationAction.BANNER  # console shows a banner
    finally:
        await h.close()
    # restart: level 1 is remembered, the next step fires at 120 s, then ack stops it
    h2 = await make_harness(database, clock, policy=policy)
    try:
        await h2.alarms.escalator.step()
        assert h2.alarms.escalator.fired == []
        await clock.advance(60)
        await h2.alarms.escalator.step()
        assert h2.alarms.escalator.fired == [(alarm.id, 2, EscalationAction.SOUND)]
        assert (await h2.alarms.get_alarm(alarm.id)).escalation == EscalationAction.SOUND
        assert (await h2.alarms.ack(alarm.id, OPERATOR)).escalation is None
        await clock.advance(1000)
        assert await h2.alarms.escalator.step() is None
        assert h2.alarms.escalator.fired == [(alarm.id, 2, EscalationAction.SOUND)]
        assert (await h2.alarms.get_alarm(low.id)).escalation_level == 0  # WARNING does not escalate
        escalations = list(await h2.audit.entries(action="alarm.escalate"))
        assert [e.detail["action"] for e in escalations] == ["sound", "banner"]
    finally:
        await h2.close()


async def test_escalation_loop_runs_on_the_clock(harness: Harness) -> None:
    task = asyncio.create_task(harness.alarms.run())
    try:
        alarm = await harness.alarms.signal(door())
        first_step = harness.alarms.policy.escalation[0]
        for _ in range(500):  # the loop does real database I/O between simulated wake-ups
            if harness.alarms.escalator.fired:
                break
            await harness.clock.advance(first_step.after_s / 10)
            await asyncio.sleep(0.01)
        assert harness.alarms.escalator.fired[0] == (alarm.id, 1, first_step.action)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_retained_state_is_published(database: str) -> None:
    publisher = FakePublisher()
    h = await make_harness(database, SimClock(DAYTIME), publisher=publisher)
    try:
        alarm = await h.alarms.signal(door())
        await h.alarms.clear(alarm.id, OPERATOR)
        topic, payload, qos, retain = publisher.messages[-1]
        assert topic == f"parkpatrol/alarms/{alarm.id}" and retain and qos == 1
        assert orjson.loads(payload)["status"] == "CLEARED_UNACK"
    finally:
        await h.close()


async def test_audit_log_is_append_only_and_chained(harness: Harness) -> None:
    await harness.audit.record("olga", "operator", "alarm.ack", "alarm:1", {"n": 1}, "10.0.0.7")
    await harness.audit.record("sam", "supervisor", "zone.armed", "zone:tz_office", {}, "10.0.0.9")
    assert await harness.audit.verify() is None
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with harness.store.sessions.begin() as session:
                await session.execute(text(statement))
    assert len(await harness.audit.entries()) == 2


async def test_broken_live_subscriber_does_not_stop_alarms(harness: Harness) -> None:
    def broken(event: LiveEvent) -> None:
        raise RuntimeError("subscriber bug")

    got: list[str] = []
    harness.alarms.subscribe(broken)
    unsubscribe = harness.alarms.subscribe(lambda e: got.append(e.kind))
    await harness.alarms.signal(door())
    unsubscribe()
    assert set(got) == {"alarm", "incident"}
    before = len(got)
    await harness.alarms.signal(AlarmSignal("sensor:s", AlarmType.SMOKE, "sensor_trip"))
    assert len(got) == before
