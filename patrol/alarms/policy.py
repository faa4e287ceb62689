"""Alarm policy: severities, incident grouping, dispatch, escalation and webhooks (validated config)."""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from patrol.alarms.model import AlarmType, EscalationAction, Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_SEVERITY: dict[AlarmType, Severity] = {
    AlarmType.INTRUSION: Severity.MAJOR,
    AlarmType.SMOKE: Severity.CRITICAL,
    AlarmType.WATER: Severity.MAJOR,
    AlarmType.TAMPER: Severity.MINOR,
    AlarmType.SENSOR_OFFLINE: Severity.MINOR,
    AlarmType.SENSOR_LOW_BATTERY: Severity.WARNING,
    AlarmType.CAMERA_OFFLINE: Severity.MINOR,
    AlarmType.ROBOT_FAULT: Severity.MAJOR,
    AlarmType.ROBOT_ESTOP: Severity.MAJOR,
    AlarmType.ROBOT_OFFLINE: Severity.MAJOR,
    AlarmType.ROBOT_LOW_BATTERY: Severity.WARNING,
    AlarmType.VISION: Severity.MAJOR,
}

INCIDENT_TYPES = frozenset({AlarmType.INTRUSION, AlarmType.SMOKE, AlarmType.WATER, AlarmType.TAMPER,
                            AlarmType.VISION})
# Types whose alarm clears by itself when the condition ends (an opened door closing does not end
# an intrusion, and a person leaving the picture does not end a vision alarm: an operator clears those).
AUTO_CLEAR_TYPES = frozenset({
    AlarmType.SMOKE, AlarmType.WATER, AlarmType.TAMPER, AlarmType.SENSOR_OFFLINE,
    AlarmType.SENSOR_LOW_BATTERY, AlarmType.CAMERA_OFFLINE, AlarmType.ROBOT_FAULT, AlarmType.ROBOT_ESTOP,
    AlarmType.ROBOT_OFFLINE, AlarmType.ROBOT_LOW_BATTERY,
})


class EscalationStep(_Strict):
    """After `after_s` seconds unacknowledged (counted from the alarm's first occurrence), do `action`."""

    after_s: float = Field(ge=0)
    action: EscalationAction


class WebhookTarget(_Strict):
    """An HTTP endpoint that receives escalations, signed with HMAC-SHA256 over the body."""

    url: HttpUrl
    secret: str = Field(min_length=16)
    timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)


class AlarmPolicy(_Strict):
    """How alarms are rated, grouped, dispatched and escalated."""

    severity: dict[AlarmType, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    # severity of a vision alarm outside an armed zone (inside it uses `severity[vision]`)
    vision_unarmed_severity: Severity = Severity.WARNING
    # labels that raise a vision alarm on their own; an event that hit a vision rule always does
    vision_labels: frozenset[str] = frozenset({"person", "car", "motorcycle", "bicycle", "truck", "crowd"})
    vision_min_score: float = Field(default=0.5, ge=0, le=1)
    incident_types: frozenset[AlarmType] = INCIDENT_TYPES
    auto_clear_types: frozenset[AlarmType] = AUTO_CLEAR_TYPES
    armable_zone_kinds: frozenset[str] = frozenset({"restricted", "after_hours"})
    incident_window_s: float = Field(default=300.0, gt=0)
    incident_radius_m: float = Field(default=60.0, ge=0)
    dispatch_min_severity: Severity = Severity.MAJOR
    # per-zone minimum severity that dispatches a robot (e.g. {"lab": "MINOR"}); "no_dispatch_zones" never
    dispatch_zone_min_severity: dict[str, Severity] = Field(default_factory=dict)
    no_dispatch_zones: frozenset[str] = frozenset()
    escalation_min_severity: Severity = Severity.MINOR
    escalation: tuple[EscalationStep, ...] = (
        EscalationStep(after_s=60, action=EscalationAction.BANNER),
        EscalationStep(after_s=180, action=EscalationAction.SOUND),
        EscalationStep(after_s=300, action=EscalationAction.WEBHOOK),
    )
    webhooks: tuple[WebhookTarget, ...] = ()
    # at most one "repeated" timeline entry per alarm in this many seconds (counts are always kept)
    repeat_note_s: float = Field(default=60.0, ge=0)

    @field_validator("escalation")
    @classmethod
    def _ordered(cls, steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        for earlier, later in itertools.pairwise(steps):
            if later.after_s < earlier.after_s:
                raise ValueError("escalation steps must be in increasing after_s order")
        return steps

    def severity_of(self, kind: AlarmType) -> Severity:
        return self.severity.get(kind, DEFAULT_SEVERITY[kind])

    def dispatches(self, severity: Severity, zone: str | None) -> bool:
        """Whether an incident of `severity` in `zone` sends a robot."""
        if zone is not None and zone in self.no_dispatch_zones:
            return False
        needed = self.dispatch_zone_min_severity.get(zone, self.dispatch_min_severity) if zone else \
            self.dispatch_min_severity
        return severity.at_least(needed)
