"""Configuration of a robot agent: who the robot is, where the broker is, how often to report."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from robots.vda5050.base import DEFAULT_VERSION, answer_version
from robots.vda5050.factsheet import AgvClass, AgvKinematic
from robots.vda5050.topics import DEFAULT_INTERFACE, RobotId, check_level


@dataclass(frozen=True)
class TlsConfig:
    """TLS towards the broker: a CA file (or the system store), optionally a client certificate."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        ctx.check_hostname = self.verify_hostname
        return ctx


@dataclass(frozen=True)
class RobotDescription:
    """What the factsheet says about the body (typeSpecification, physicalParameters)."""

    series_name: str = "ParkPatrol patrol dog"
    series_description: str | None = "quadruped patrol robot"
    kinematic: AgvKinematic = AgvKinematic.OMNI
    agv_class: AgvClass = AgvClass.CARRIER
    max_load_mass: float = 0.0
    speed_min: float = 0.0
    speed_max: float = 1.5
    acceleration_max: float = 1.0
    deceleration_max: float = 2.0
    height_min: float = 0.3
    height_max: float = 0.5
    width: float = 0.4
    length: float = 0.7
    localization_types: tuple[str, ...] = ("NATURAL",)
    navigation_types: tuple[str, ...] = ("AUTONOMOUS",)
    software_version: str | None = None


@dataclass(frozen=True)
class AgentConfig:
    """Everything a `RobotAgent` needs besides its driver and clock.

    - `state_interval`: a state is published on every event and at least this often (spec: <= 30 s).
    - `visualization_interval`: publish `visualization` this often (None: never).
    - `drive_retry_interval`: after a failed drive the agent waits this long (or for a new order,
      cancel or stopPause) before trying the same node again.
    - `reconnect_min`/`reconnect_max`: broker reconnect backoff, in real seconds (the broker is real).
    """

    manufacturer: str
    serial_number: str
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    interface: str = DEFAULT_INTERFACE
    version: str = DEFAULT_VERSION
    client_id: str | None = None
    keepalive: int = 30
    state_interval: float = 30.0
    visualization_interval: float | None = None
    drive_retry_interval: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    max_payload_bytes: int = 1_000_000
    description: RobotDescription = field(default_factory=RobotDescription)

    def __post_init__(self) -> None:
        check_level("manufacturer", self.manufacturer)
        check_level("serialNumber", self.serial_number)
        check_level("interface", self.interface)
        answer_version(self.version)  # raises for unsupported versions
        if not 0 < self.state_interval <= 30.0:
            raise ValueError(f"state_interval={self.state_interval}: must be in (0, 30] seconds (VDA 5050)")
        if self.visualization_interval is not None and self.visualization_interval <= 0:
            raise ValueError(f"visualization_interval={self.visualization_interval}: must be > 0 or None")

    @property
    def robot(self) -> RobotId:
        return RobotId(self.manufacturer, self.serial_number)

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"{self.interface}-{self.manufacturer}-{self.serial_number}"
