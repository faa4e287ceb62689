"""`factsheet` message: what a robot is and which actions it can run."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from robots.vda5050.base import Timestamp, VdaModel
from robots.vda5050.order import BlockingType


class AgvKinematic(StrEnum):
    DIFF = "DIFF"
    OMNI = "OMNI"
    THREEWHEEL = "THREEWHEEL"


class AgvClass(StrEnum):
    FORKLIFT = "FORKLIFT"
    CONVEYOR = "CONVEYOR"
    TUGGER = "TUGGER"
    CARRIER = "CARRIER"


class ActionScope(StrEnum):
    INSTANT = "INSTANT"
    NODE = "NODE"
    EDGE = "EDGE"


class ValueDataType(StrEnum):
    BOOL = "BOOL"
    NUMBER = "NUMBER"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    STRING = "STRING"
    OBJECT = "OBJECT"
    ARRAY = "ARRAY"


class TypeSpecification(VdaModel):
    series_name: str
    agv_kinematic: AgvKinematic
    agv_class: AgvClass
    max_load_mass: float = Field(ge=0)
    localization_types: list[str]
    navigation_types: list[str]
    series_description: str | None = None


class PhysicalParameters(VdaModel):
    speed_min: float
    speed_max: float
    acceleration_max: float
    deceleration_max: float
    height_max: float
    width: float
    length: float
    height_min: float | None = None


class MaxStringLens(VdaModel):
    msg_len: int | None = None
    topic_serial_len: int | None = None
    topic_elem_len: int | None = None
    id_len: int | None = None
    id_numerical_only: bool | None = None
    enum_len: int | None = None
    load_id_len: int | None = None


class MaxArrayLens(VdaModel):
    order_nodes: int | None = Field(default=None, alias="order.nodes")
    order_edges: int | None = Field(default=None, alias="order.edges")
    node_actions: int | None = Field(default=None, alias="node.actions")
    edge_actions: int | None = Field(default=None, alias="edge.actions")
    actions_actions_parameters: int | None = Field(default=None, alias="actions.actionsParameters")
    instant_actions: int | None = Field(default=None, alias="instantActions")
    trajectory_knot_vector: int | None = Field(default=None, alias="trajectory.knotVector")
    trajectory_control_points: int | None = Field(default=None, alias="trajectory.controlPoints")
    state_node_states: int | None = Field(default=None, alias="state.nodeStates")
    state_edge_states: int | None = Field(default=None, alias="state.edgeStates")
    state_loads: int | None = Field(default=None, alias="state.loads")
    state_action_states: int | None = Field(default=None, alias="state.actionStates")
    state_errors: int | None = Field(default=None, alias="state.errors")
    state_information: int | None = Field(default=None, alias="state.information")
    error_error_references: int | None = Field(default=None, alias="error.errorReferences")
    information_info_references: int | None = Field(default=None, alias="information.infoReferences")


class Timing(VdaModel):
    min_order_interval: float
    min_state_interval: float
    default_state_interval: float | None = None
    visualization_interval: float | None = None


class ProtocolLimits(VdaModel):
    max_string_lens: MaxStringLens
    max_array_lens: MaxArrayLens
    timing: Timing


class OptionalParameter(VdaModel):
    parameter: str
    support: str  # SUPPORTED or REQUIRED
    description: str | None = None


class FactsheetActionParameter(VdaModel):
    key: str
    value_data_type: ValueDataType
    description: str | None = None
    is_optional: bool | None = None


class AgvAction(VdaModel):
    action_type: str
    action_scopes: list[ActionScope]
    action_description: str | None = None
    action_parameters: list[FactsheetActionParameter] | None = None
    result_description: str | None = None
    blocking_types: list[BlockingType] | None = None


class ProtocolFeatures(VdaModel):
    optional_parameters: list[OptionalParameter]
    agv_actions: list[AgvAction]


class Position2D(VdaModel):
    x: float
    y: float
    theta: float | None = None


class WheelDefinition(VdaModel):
    type: str
    is_active_driven: bool
    is_active_steered: bool
    position: Position2D
    diameter: float
    width: float
    center_displacement: float | None = None
    constraints: str | None = None


class PolygonPoint(VdaModel):
    x: float
    y: float


class Envelope2D(VdaModel):
    set: str
    polygon_points: list[PolygonPoint]
    description: str | None = None


class AgvGeometry(VdaModel):
    wheel_definitions: list[WheelDefinition] | None = None
    envelopes2d: list[Envelope2D] | None = Field(default=None, alias="envelopes2d")


class LoadSpecification(VdaModel):
    load_positions: list[str] | None = None


class VersionInfo(VdaModel):
    key: str
    value: str


class VehicleConfig(VdaModel):
    versions: list[VersionInfo] | None = None


class Factsheet(VdaModel):
    """Header fields headerId/timestamp are optional in the factsheet schema."""

    version: str
    manufacturer: str
    serial_number: str
    type_specification: TypeSpecification
    physical_parameters: PhysicalParameters
    protocol_limits: ProtocolLimits
    protocol_features: ProtocolFeatures
    agv_geometry: AgvGeometry
    load_specification: LoadSpecification
    header_id: int | None = Field(default=None, ge=0)
    timestamp: Timestamp | None = None
    vehicle_config: VehicleConfig | None = None

    def action(self, action_type: str) -> AgvAction | None:
        """The declared action `action_type`, or None."""
        for a in self.protocol_features.agv_actions:
            if a.action_type == action_type:
                return a
        return None
