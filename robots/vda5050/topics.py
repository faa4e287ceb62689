"""VDA 5050 MQTT topics: `{interface}/v2/{manufacturer}/{serialNumber}/{topic}`, built and parsed here only.

QoS and retain follow the spec (2.x, "Connection handling, security and QoS"): QoS 0 for order,
instantActions, state, visualization and factsheet; QoS 1 for connection, which is retained and
carries the broker-published last will `CONNECTIONBROKEN`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import StrEnum

from robots.vda5050.base import MAJOR_TOPIC_VERSION

DEFAULT_INTERFACE = "uagv"

# The spec restricts serial numbers to A-Z a-z 0-9 _ . : - ; we apply the same to the other levels.
_LEVEL_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")


class TopicError(ValueError):
    """A topic string or a topic level is not a valid VDA 5050 topic."""


class VdaTopic(StrEnum):
    ORDER = "order"
    INSTANT_ACTIONS = "instantActions"
    STATE = "state"
    VISUALIZATION = "visualization"
    CONNECTION = "connection"
    FACTSHEET = "factsheet"

    @property
    def from_robot(self) -> bool:
        """True for the topics a robot publishes (state, visualization, connection, factsheet)."""
        return self not in (VdaTopic.ORDER, VdaTopic.INSTANT_ACTIONS)


@dataclass(frozen=True)
class Delivery:
    qos: int
    retain: bool


DELIVERY: dict[VdaTopic, Delivery] = {
    VdaTopic.ORDER: Delivery(qos=0, retain=False),
    VdaTopic.INSTANT_ACTIONS: Delivery(qos=0, retain=False),
    VdaTopic.STATE: Delivery(qos=0, retain=False),
    VdaTopic.VISUALIZATION: Delivery(qos=0, retain=False),
    VdaTopic.CONNECTION: Delivery(qos=1, retain=True),
    VdaTopic.FACTSHEET: Delivery(qos=0, retain=False),
}

ROBOT_PUBLISHES: tuple[VdaTopic, ...] = (
    VdaTopic.STATE,
    VdaTopic.VISUALIZATION,
    VdaTopic.CONNECTION,
    VdaTopic.FACTSHEET,
)
ROBOT_SUBSCRIBES: tuple[VdaTopic, ...] = (VdaTopic.ORDER, VdaTopic.INSTANT_ACTIONS)


def check_level(name: str, value: str) -> str:
    """Validate one topic level (interface, manufacturer, serial number)."""
    if not _LEVEL_RE.match(value):
        raise TopicError(
            f"{name} {value!r} is not a valid topic level: use only A-Z a-z 0-9 _ . : - (no '/', '+', '#')"
        )
    return value


@dataclass(frozen=True)
class RobotId:
    """One robot as VDA 5050 names it: manufacturer and serial number."""

    manufacturer: str
    serial_number: str

    def __post_init__(self) -> None:
        check_level("manufacturer", self.manufacturer)
        check_level("serialNumber", self.serial_number)

    def __str__(self) -> str:
        return f"{self.manufacturer}/{self.serial_number}"


@dataclass(frozen=True)
class RobotTopic:
    """A concrete topic for one robot. `str(topic)` gives the MQTT topic name."""

    robot: RobotId
    topic: VdaTopic
    interface: str = DEFAULT_INTERFACE
    major_version: str = MAJOR_TOPIC_VERSION

    def __post_init__(self) -> None:
        check_level("interface", self.interface)
        if self.major_version != MAJOR_TOPIC_VERSION:
            raise TopicError(
                f"major version {self.major_version!r} is not supported (only {MAJOR_TOPIC_VERSION})"
            )

    def __str__(self) -> str:
        return (
            f"{self.interface}/{self.major_version}/{self.robot.manufacturer}/"
            f"{self.robot.serial_number}/{self.topic.value}"
        )

    @property
    def delivery(self) -> Delivery:
        return DELIVERY[self.topic]

    @property
    def qos(self) -> int:
        return DELIVERY[self.topic].qos

    @property
    def retain(self) -> bool:
        return DELIVERY[self.topic].retain

    @classmethod
    def parse(cls, topic: str, *, interface: str | None = None) -> RobotTopic:
        """Parse an MQTT topic name; raises `TopicError` naming what is wrong.

        With `interface` given, a topic under another interface is an error too.
        """
        parts = topic.split("/")
        if len(parts) != 5:
            raise TopicError(
                f"topic {topic!r} has {len(parts)} levels; "
                "expected interface/v2/manufacturer/serialNumber/topic"
            )
        iface, major, manufacturer, serial, name = parts
        if interface is not None and iface != interface:
            raise TopicError(f"topic {topic!r} is not under interface {interface!r}")
        if major != MAJOR_TOPIC_VERSION:
            raise TopicError(f"topic {topic!r}: major version {major!r} is not supported (only v2)")
        try:
            vda_topic = VdaTopic(name)
        except ValueError:
            raise TopicError(
                f"topic {topic!r}: {name!r} is not one of {', '.join(t.value for t in VdaTopic)}"
            ) from None
        return cls(RobotId(manufacturer, serial), vda_topic, iface, major)


def robot_topic(manufacturer: str, serial_number: str, topic: VdaTopic,
                interface: str = DEFAULT_INTERFACE) -> RobotTopic:
    return RobotTopic(RobotId(manufacturer, serial_number), topic, interface)


def service_subscriptions(interface: str = DEFAULT_INTERFACE) -> list[tuple[str, int]]:
    """Topic filters (and QoS) master control subscribes to: every robot's outgoing topics."""
    check_level("interface", interface)
    return [(f"{interface}/{MAJOR_TOPIC_VERSION}/+/+/{t.value}", DELIVERY[t].qos) for t in ROBOT_PUBLISHES]


def robot_subscriptions(robot: RobotId, interface: str = DEFAULT_INTERFACE) -> list[tuple[str, int]]:
    """Topics (and QoS) a robot subscribes to: its own order and instantActions."""
    return [(str(RobotTopic(robot, t, interface)), DELIVERY[t].qos) for t in ROBOT_SUBSCRIBES]


class HeaderIds:
    """Per-topic headerId counters: each topic starts at 0 and counts up by one per sent message.

    Thread-safe, so one instance can serve a robot (or the service side, per robot) from any task.
    """

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, topic: RobotTopic | str) -> int:
        key = str(topic)
        with self._lock:
            value = self._next.get(key, 0)
            self._next[key] = value + 1
            return value

    def peek(self, topic: RobotTopic | str) -> int:
        with self._lock:
            return self._next.get(str(topic), 0)
