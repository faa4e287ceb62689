"""What the robot reports: `state` and `visualization` bodies built from the driver and the order machine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from robots.agent.driver import Driver, DriverFault
from robots.vda5050.orders import OrderStateMachine, make_error
from robots.vda5050.state import (
    AgvPosition,
    BatteryState,
    Error,
    ErrorLevel,
    EStop,
    InfoLevel,
    Information,
    OperatingMode,
    SafetyState,
    State,
    Velocity,
    Visualization,
)

log = logging.getLogger(__name__)


def fault_errors(faults: Sequence[DriverFault]) -> list[Error]:
    """Driver faults as VDA 5050 errors (anything but "FATAL" is a WARNING)."""
    return [make_error(f.error_type, f.description or f.error_type,
                       level=ErrorLevel.FATAL if f.level == "FATAL" else ErrorLevel.WARNING) for f in faults]


def build_state(header: dict[str, Any], driver: Driver, orders: OrderStateMachine, *, driving: bool, paused: bool,
                estop: bool, extra_errors: Sequence[Error] = ()) -> State:
    """A state message. Driver query failures become a `driverError` warning instead of an exception."""
    errors = [*orders.errors, *extra_errors]
    position = velocity = battery = None
    info: list[Information] = []
    try:
        pose = driver.pose()
        position = AgvPosition(x=pose.x, y=pose.y, theta=pose.theta, map_id=pose.map_id,
                               position_initialized=pose.localized, deviation_range=pose.deviation or None)
        v = driver.velocity()
        velocity = Velocity(vx=v.vx, vy=v.vy, omega=v.omega)
        b = driver.battery()
        battery = BatteryState(battery_charge=b.charge, charging=b.charging, battery_voltage=b.voltage,
                               reach=None if b.reach_m is None else max(0.0, b.reach_m))
        url = driver.camera_url()
        if url:
            info.append(Information(info_type="cameraStream", info_level=InfoLevel.INFO, info_description=url))
    except Exception as exc:  # a driver bug must not stop reporting
        log.warning("%s/%s: driver query failed: %s", header.get("manufacturer"), header.get("serial_number"), exc)
        errors.append(make_error("driverError", f"driver query failed: {exc}", level=ErrorLevel.WARNING))
    return State(
        **header,
        order_id=orders.order_id,
        order_update_id=orders.order_update_id,
        last_node_id=orders.last_node_id,
        last_node_sequence_id=orders.last_node_sequence_id,
        driving=driving,
        paused=paused,
        new_base_request=orders.waiting_for_update or None,
        operating_mode=OperatingMode.AUTOMATIC,
        node_states=orders.node_states(),
        edge_states=orders.edge_states(),
        action_states=orders.action_states(),
        battery_state=battery or BatteryState(battery_charge=0.0, charging=False),
        errors=errors,
        information=info or None,
        safety_state=SafetyState(e_stop=EStop.MANUAL if estop else EStop.NONE, field_violation=False),
        agv_position=position,
        velocity=velocity,
    )


def build_visualization(header: dict[str, Any], driver: Driver) -> Visualization:
    pose, v = driver.pose(), driver.velocity()
    return Visualization(
        **header,
        agv_position=AgvPosition(x=pose.x, y=pose.y, theta=pose.theta, map_id=pose.map_id,
                                 position_initialized=pose.localized),
        velocity=Velocity(vx=v.vx, vy=v.vy, omega=v.omega),
    )
