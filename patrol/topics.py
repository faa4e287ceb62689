"""MQTT topics of the service's own conventions (VDA 5050 topics live in robots.vda5050.topics)."""

from __future__ import annotations

SERVICE_AVAILABLE = "parkpatrol/available"
ALARMS_PREFIX = "parkpatrol/alarms/"
VISION_EVENTS = "parkpatrol/vision/events"
CAMERA_STATUS_FILTER = "parkpatrol/cameras/+/status"
ZIGBEE_FILTER = "zigbee2mqtt/#"
HA_DISCOVERY_FILTER = "homeassistant/#"
GUIDE_QUERY_FILTER = "parkpatrol/guide/+/query"


def alarm(alarm_id: int | str) -> str:
    return f"{ALARMS_PREFIX}{alarm_id}"


def camera_status(camera_id: str) -> str:
    return f"parkpatrol/cameras/{camera_id}/status"


def guide_answer(robot: str) -> str:
    return f"parkpatrol/guide/{robot}/answer"


def guide_robot_from_query(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 4 and parts[:2] == ["parkpatrol", "guide"] and parts[3] == "query" and parts[2]:
        return parts[2]
    return None
