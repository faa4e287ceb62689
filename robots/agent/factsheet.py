"""The factsheet a robot publishes: its body from `RobotDescription`, its actions from the driver."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from robots.agent.config import AgentConfig
from robots.agent.driver import ActionSpec
from robots.vda5050.actions import ALL_ACTIONS, INSTANT_ACTIONS
from robots.vda5050.factsheet import (
    ActionScope,
    AgvAction,
    AgvGeometry,
    Factsheet,
    FactsheetActionParameter,
    LoadSpecification,
    MaxArrayLens,
    MaxStringLens,
    PhysicalParameters,
    ProtocolFeatures,
    ProtocolLimits,
    Timing,
    TypeSpecification,
    ValueDataType,
    VehicleConfig,
    VersionInfo,
)
from robots.vda5050.order import BlockingType


def agv_action_from_spec(spec: ActionSpec) -> AgvAction:
    """A factsheet entry for a driver action: our definition where we know the type, else the driver's."""
    known = ALL_ACTIONS.get(spec.action_type)
    if known is not None:
        declared = known.to_agv_action()
        scopes = [ActionScope(s) for s in spec.scopes if s in ActionScope.__members__]
        params = list(declared.action_parameters or [])
        known_keys = {p.key for p in params}
        params += [FactsheetActionParameter(key=k, value_data_type=ValueDataType.STRING, is_optional=True,
                                            description="driver-specific parameter")
                   for k in spec.parameters if k not in known_keys]
        return declared.model_copy(update={"action_scopes": scopes or declared.action_scopes,
                                           "action_parameters": params or None})
    return AgvAction(
        action_type=spec.action_type,
        action_description=spec.description or None,
        action_scopes=[ActionScope(s) for s in spec.scopes if s in ActionScope.__members__] or [ActionScope.NODE],
        action_parameters=[FactsheetActionParameter(key=p, value_data_type=ValueDataType.STRING)
                           for p in spec.parameters] or None,
        blocking_types=[BlockingType(b) for b in spec.blocking_types if b in BlockingType.__members__] or None,
    )


def build_factsheet(config: AgentConfig, driver_actions: Sequence[ActionSpec], *, header_id: int,
                    timestamp: datetime) -> Factsheet:
    """The robot's factsheet: agent-handled instant actions plus every action the driver supports."""
    d = config.description
    actions: dict[str, AgvAction] = {k: v.to_agv_action() for k, v in INSTANT_ACTIONS.items()}
    for spec in driver_actions:
        actions[spec.action_type] = agv_action_from_spec(spec)
    versions = [VersionInfo(key="parkpatrolAgent", value="1")]
    if d.software_version:
        versions.append(VersionInfo(key="softwareVersion", value=d.software_version))
    return Factsheet(
        header_id=header_id,
        timestamp=timestamp,
        version=config.version,
        manufacturer=config.manufacturer,
        serial_number=config.serial_number,
        type_specification=TypeSpecification(
            series_name=d.series_name, series_description=d.series_description, agv_kinematic=d.kinematic,
            agv_class=d.agv_class, max_load_mass=d.max_load_mass,
            localization_types=list(d.localization_types), navigation_types=list(d.navigation_types)),
        physical_parameters=PhysicalParameters(
            speed_min=d.speed_min, speed_max=d.speed_max, acceleration_max=d.acceleration_max,
            deceleration_max=d.deceleration_max, height_min=d.height_min, height_max=d.height_max,
            width=d.width, length=d.length),
        protocol_limits=ProtocolLimits(
            max_string_lens=MaxStringLens(msg_len=config.max_payload_bytes),
            max_array_lens=MaxArrayLens(),
            timing=Timing(min_order_interval=0.0, min_state_interval=0.0,
                          default_state_interval=config.state_interval,
                          visualization_interval=config.visualization_interval)),
        protocol_features=ProtocolFeatures(optional_parameters=[], agv_actions=list(actions.values())),
        agv_geometry=AgvGeometry(),
        load_specification=LoadSpecification(),
        vehicle_config=VehicleConfig(versions=versions),
    )
