"""MQTT topics of the vision package (built here, never by string concatenation at call sites)."""

from __future__ import annotations

import re

EVENTS = "parkpatrol/vision/events"
_CAMERA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_camera_id(camera_id: str) -> bool:
    return bool(_CAMERA_ID.match(camera_id))


def camera_status(camera_id: str) -> str:
    """Retained health of one camera: `parkpatrol/cameras/<id>/status`."""
    if not valid_camera_id(camera_id):
        raise ValueError(f"camera id {camera_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    return f"parkpatrol/cameras/{camera_id}/status"
