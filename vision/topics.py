"""MQTT topics of the vision package (built here, never by string concatenation at call sites)."""

from __future__ import annotations

import re

EVENTS = "parkpatrol/vision/events"
WORKERS_FILTER = "parkpatrol/vision/workers/+"
ASSIGNMENTS_FILTER = "parkpatrol/vision/assignments/+"
SNAPSHOTS_FILTER = "parkpatrol/vision/snapshots/+"
_CAMERA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def valid_camera_id(camera_id: str) -> bool:
    return bool(_CAMERA_ID.match(camera_id))


def valid_worker_id(worker_id: str) -> bool:
    """Worker ids follow the camera id rules: 1-64 of A-Z a-z 0-9 _ . -"""
    return bool(_CAMERA_ID.match(worker_id))


def valid_event_id(event_id: str) -> bool:
    return bool(_EVENT_ID.match(event_id))


def camera_status(camera_id: str) -> str:
    """Retained health of one camera: `parkpatrol/cameras/<id>/status`."""
    if not valid_camera_id(camera_id):
        raise ValueError(f"camera id {camera_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    return f"parkpatrol/cameras/{camera_id}/status"


def worker(worker_id: str) -> str:
    """Retained membership record of one vision worker: `parkpatrol/vision/workers/<id>`."""
    if not valid_worker_id(worker_id):
        raise ValueError(f"worker id {worker_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    return f"parkpatrol/vision/workers/{worker_id}"


def assignment(worker_id: str) -> str:
    """Retained list of the cameras one worker watches: `parkpatrol/vision/assignments/<id>`."""
    if not valid_worker_id(worker_id):
        raise ValueError(f"worker id {worker_id!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    return f"parkpatrol/vision/assignments/{worker_id}"


def snapshot(event_id: str) -> str:
    """Best JPEG of one event (binary, QoS 1, not retained): `parkpatrol/vision/snapshots/<event_id>`."""
    if not valid_event_id(event_id):
        raise ValueError(f"event id {event_id!r} must be 1-128 of A-Z a-z 0-9 _ . : -")
    return f"parkpatrol/vision/snapshots/{event_id}"


def last_level(topic: str, prefix_filter: str) -> str | None:
    """The `+` level of `topic` under `prefix_filter` (`a/b/+`), or None when it does not match."""
    prefix = prefix_filter[:-1]
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix):]
    return rest if rest and "/" not in rest else None
