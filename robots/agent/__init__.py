"""Robot-side agent: VDA 5050 over MQTT in front of a vendor `Driver`."""

from robots.agent.agent import RobotAgent
from robots.agent.config import AgentConfig, RobotDescription, TlsConfig
from robots.agent.core import AgentCore
from robots.agent.driver import (
    ActionOutcome,
    ActionRequest,
    ActionSpec,
    Battery,
    DriveError,
    Driver,
    DriverFault,
    NodeGoal,
    Pose,
    Velocity,
)

__all__ = [
    "ActionOutcome",
    "ActionRequest",
    "ActionSpec",
    "AgentConfig",
    "AgentCore",
    "Battery",
    "DriveError",
    "Driver",
    "DriverFault",
    "NodeGoal",
    "Pose",
    "RobotAgent",
    "RobotDescription",
    "TlsConfig",
    "Velocity",
]
