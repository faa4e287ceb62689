"""Action types: the spec's instant actions the agent handles itself, and ParkPatrol's own patrol actions.

Patrol work is expressed as VDA 5050 actions with our own `actionType`s, declared in each robot's
factsheet; the service sends an action only to robots whose factsheet declares it (`declares_action`).
"""

from __future__ import annotations

from dataclasses import dataclass

from robots.vda5050.factsheet import ActionScope, AgvAction, Factsheet, FactsheetActionParameter, ValueDataType
from robots.vda5050.order import BlockingType

# --- predefined VDA 5050 instant actions (handled by robots.agent) -------------------------------
START_PAUSE = "startPause"
STOP_PAUSE = "stopPause"
CANCEL_ORDER = "cancelOrder"
INIT_POSITION = "initPosition"
START_CHARGING = "startCharging"
STOP_CHARGING = "stopCharging"
STATE_REQUEST = "stateRequest"
FACTSHEET_REQUEST = "factsheetRequest"

# --- ParkPatrol action types -------------------------------------------------------------------
CAPTURE_PHOTO = "capturePhoto"
SCAN_AREA = "scanArea"
SPEAK = "speak"
DOCK = "dock"
FOLLOW_PERSON = "followPerson"
LEAD_TO = "leadTo"


@dataclass(frozen=True)
class ParamDef:
    key: str
    data_type: ValueDataType
    description: str
    optional: bool = True


@dataclass(frozen=True)
class ActionDef:
    """How an action type is declared in a factsheet and which blocking type it gets by default."""

    action_type: str
    description: str
    scopes: tuple[ActionScope, ...]
    blocking_types: tuple[BlockingType, ...]
    parameters: tuple[ParamDef, ...] = ()
    result_description: str | None = None

    @property
    def default_blocking(self) -> BlockingType:
        return self.blocking_types[0]

    def to_agv_action(self) -> AgvAction:
        return AgvAction(
            action_type=self.action_type,
            action_description=self.description,
            action_scopes=list(self.scopes),
            action_parameters=[
                FactsheetActionParameter(key=p.key, value_data_type=p.data_type, description=p.description,
                                         is_optional=p.optional)
                for p in self.parameters
            ] or None,
            result_description=self.result_description,
            blocking_types=list(self.blocking_types),
        )


_I, _N, _E = ActionScope.INSTANT, ActionScope.NODE, ActionScope.EDGE
_NONE, _SOFT, _HARD = BlockingType.NONE, BlockingType.SOFT, BlockingType.HARD
_S, _F = ValueDataType.STRING, ValueDataType.FLOAT

INSTANT_ACTIONS: dict[str, ActionDef] = {
    d.action_type: d
    for d in (
        ActionDef(START_PAUSE, "Stop driving and pause running actions until stopPause.", (_I,), (_HARD,)),
        ActionDef(STOP_PAUSE, "Resume driving and paused actions.", (_I,), (_HARD,)),
        ActionDef(CANCEL_ORDER, "Stop and cancel the current order.", (_I,), (_HARD,)),
        ActionDef(STATE_REQUEST, "Publish a state message now.", (_I,), (_NONE,)),
        ActionDef(FACTSHEET_REQUEST, "Publish the factsheet now.", (_I,), (_NONE,)),
    )
}

#: Declared only when the driver supports them (they act on the robot's body); the agent forwards
#: them to `Driver.run_action` and keeps the order bookkeeping (lastNodeId on initPosition).
BODY_ACTIONS: dict[str, ActionDef] = {
    INIT_POSITION: ActionDef(INIT_POSITION, "Set the robot's position (and lastNodeId).", (_I, _N), (_HARD,), (
            ParamDef("x", _F, "x in metres", optional=False),
            ParamDef("y", _F, "y in metres", optional=False),
            ParamDef("theta", _F, "heading in radians", optional=False),
            ParamDef("mapId", _S, "map of the position", optional=False),
            ParamDef("lastNodeId", _S, "node the robot stands on, if any"),
        )),
    START_CHARGING: ActionDef(START_CHARGING, "Start charging at the charger the robot stands on.",
                              (_I, _N), (_HARD,)),
    STOP_CHARGING: ActionDef(STOP_CHARGING, "Stop charging.", (_I, _N), (_HARD,)),
}

PATROL_ACTIONS: dict[str, ActionDef] = {
    d.action_type: d
    for d in (
        ActionDef(CAPTURE_PHOTO, "Take a photo with the robot's camera.", (_N, _I), (_SOFT, _NONE), (
            ParamDef("camera", _S, "camera name on the robot (default: front)"),
            ParamDef("label", _S, "why the photo is taken, e.g. an incident id"),
        ), result_description="URL or id of the stored photo"),
        ActionDef(SCAN_AREA, "Stand at the node and look around with the camera.", (_N, _I), (_HARD, _SOFT), (
            ParamDef("duration", _F, "seconds to scan (default 10)"),
            ParamDef("sweepDeg", _F, "degrees to turn through (default 360)"),
        ), result_description="number of detections or 'clear'"),
        ActionDef(SPEAK, "Say a text aloud (guide robot, warnings).", (_I, _N), (_NONE, _SOFT), (
            ParamDef("text", _S, "text to say", optional=False),
            ParamDef("language", _S, "BCP 47 language tag, e.g. zh-CN or en", optional=False),
        )),
        ActionDef(DOCK, "Dock onto the charger at this node.", (_N,), (_HARD,), (
            ParamDef("chargerId", _S, "charger to dock on"),
        )),
        ActionDef(FOLLOW_PERSON, "Follow a tracked person at a distance.", (_I, _N), (_HARD,), (
            ParamDef("trackId", _S, "vision track id of the person"),
            ParamDef("personId", _S, "id of the person (simulator or re-identification)"),
            ParamDef("distance", _F, "distance to keep in metres (default 2)"),
            ParamDef("duration", _F, "seconds to follow before reporting FINISHED"),
        )),
        ActionDef(LEAD_TO, "Escort a visitor along the order's edges at walking pace.", (_E, _N), (_NONE,), (
            ParamDef("destination", _S, "name of the destination shown to the visitor"),
            ParamDef("visitorId", _S, "visit or ticket id"),
            ParamDef("speed", _F, "walking speed in m/s (default 1.0)"),
            ParamDef("x", _F, "destination x in metres, when not leading along the order's edges"),
            ParamDef("y", _F, "destination y in metres"),
            ParamDef("duration", _F, "seconds to escort at most"),
        )),
    )
}

ALL_ACTIONS: dict[str, ActionDef] = {**INSTANT_ACTIONS, **BODY_ACTIONS, **PATROL_ACTIONS}


def action_def(action_type: str) -> ActionDef | None:
    return ALL_ACTIONS.get(action_type)


def declares_action(factsheet: Factsheet | None, action_type: str, scope: ActionScope | str | None = None) -> bool:
    """True when the robot's factsheet declares `action_type` (in `scope`, if given).

    No factsheet means nothing is declared: the service never sends an undeclared action.
    """
    if factsheet is None:
        return False
    declared = factsheet.action(action_type)
    if declared is None:
        return False
    return scope is None or ActionScope(scope) in declared.action_scopes


def missing_required_parameters(action_type: str, parameters: dict[str, object]) -> list[str]:
    """Required parameter keys (from our definitions) absent from `parameters`."""
    d = ALL_ACTIONS.get(action_type)
    if d is None:
        return []
    return [p.key for p in d.parameters if not p.optional and p.key not in parameters]
