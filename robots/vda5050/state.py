"""`state`, `visualization` and `connection` messages (robot -> master control)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from robots.vda5050.base import Header, Timestamp, VdaModel
from robots.vda5050.order import Trajectory


class ActionStatus(StrEnum):
    """Action states. PAUSED is in the spec text (2.x, table "actionStatus") though the 2.1.0 JSON
    schema's enum omits it (VDA5050/VDA5050 issue #356, fixed by PR #360)."""

    WAITING = "WAITING"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in (ActionStatus.FINISHED, ActionStatus.FAILED)


class OperatingMode(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    SEMIAUTOMATIC = "SEMIAUTOMATIC"
    MANUAL = "MANUAL"
    SERVICE = "SERVICE"
    TEACHIN = "TEACHIN"


class ErrorLevel(StrEnum):
    WARNING = "WARNING"
    FATAL = "FATAL"


class InfoLevel(StrEnum):
    INFO = "INFO"
    DEBUG = "DEBUG"


class EStop(StrEnum):
    AUTOACK = "AUTOACK"
    MANUAL = "MANUAL"
    REMOTE = "REMOTE"
    NONE = "NONE"


class ConnectionState(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    CONNECTIONBROKEN = "CONNECTIONBROKEN"


class MapStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class MapInfo(VdaModel):
    """2.1 only."""

    map_id: str
    map_version: str
    map_status: MapStatus
    map_description: str | None = None


class StateNodePosition(VdaModel):
    x: float
    y: float
    map_id: str
    theta: float | None = None


class NodeState(VdaModel):
    node_id: str
    sequence_id: int
    released: bool
    node_description: str | None = None
    node_position: StateNodePosition | None = None


class EdgeState(VdaModel):
    edge_id: str
    sequence_id: int
    released: bool
    edge_description: str | None = None
    trajectory: Trajectory | None = None


class AgvPosition(VdaModel):
    x: float
    y: float
    theta: float
    map_id: str
    position_initialized: bool
    map_description: str | None = None
    localization_score: float | None = Field(default=None, ge=0.0, le=1.0)
    deviation_range: float | None = None


class Velocity(VdaModel):
    vx: float | None = None
    vy: float | None = None
    omega: float | None = None


class BoundingBoxReference(VdaModel):
    x: float
    y: float
    z: float
    theta: float | None = None


class LoadDimensions(VdaModel):
    length: float
    width: float
    height: float | None = None


class Load(VdaModel):
    load_id: str | None = None
    load_type: str | None = None
    load_position: str | None = None
    bounding_box_reference: BoundingBoxReference | None = None
    load_dimensions: LoadDimensions | None = None
    weight: float | None = Field(default=None, ge=0.0)


class ActionState(VdaModel):
    action_id: str
    action_status: ActionStatus
    action_type: str | None = None
    action_description: str | None = None
    result_description: str | None = None


class BatteryState(VdaModel):
    battery_charge: float
    charging: bool
    battery_voltage: float | None = None
    battery_health: float | None = Field(default=None, ge=0, le=100)
    reach: float | None = Field(default=None, ge=0)


class ErrorReference(VdaModel):
    reference_key: str
    reference_value: str


class Error(VdaModel):
    error_type: str
    error_level: ErrorLevel
    error_references: list[ErrorReference] | None = None
    error_description: str | None = None
    error_hint: str | None = None


class InfoReference(VdaModel):
    reference_key: str
    reference_value: str


class Information(VdaModel):
    info_type: str
    info_level: InfoLevel
    info_references: list[InfoReference] | None = None
    info_description: str | None = None


class SafetyState(VdaModel):
    e_stop: EStop
    field_violation: bool


class State(Header):
    order_id: str
    order_update_id: int
    last_node_id: str
    last_node_sequence_id: int
    driving: bool
    operating_mode: OperatingMode
    node_states: list[NodeState]
    edge_states: list[EdgeState]
    action_states: list[ActionState]
    battery_state: BatteryState
    errors: list[Error]
    safety_state: SafetyState
    maps: list[MapInfo] | None = None
    zone_set_id: str | None = None
    paused: bool | None = None
    new_base_request: bool | None = None
    distance_since_last_node: float | None = None
    agv_position: AgvPosition | None = None
    velocity: Velocity | None = None
    loads: list[Load] | None = None
    information: list[Information] | None = None


class Visualization(VdaModel):
    """Every field is optional in the schema, the header included."""

    header_id: int | None = None
    timestamp: Timestamp | None = None
    version: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    agv_position: AgvPosition | None = None
    velocity: Velocity | None = None


class Connection(Header):
    connection_state: ConnectionState

