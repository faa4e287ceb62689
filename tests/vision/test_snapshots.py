"""Snapshot store: one JPEG per event, boxes drawn on request, retention."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.vision.conftest import empty_scene
from vision.snapshots import SnapshotError, SnapshotStore
from vision.types import Box


def test_save_get_with_and_without_boxes(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    frame = empty_scene(7)
    store.save("1795838400.123-gate-1", frame, Box(100, 100, 200, 300), "person", 0.8)
    plain = store.get("1795838400.123-gate-1")
    drawn = store.get("1795838400.123-gate-1", boxes=True)
    a = cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR)
    b = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert a is not None and b is not None and a.shape == b.shape == frame.shape
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 60
    assert diff[100:301, 98:103].any() and not diff[400:, 400:].any()  # the box edge, not elsewhere
    with pytest.raises(SnapshotError):
        store.get("no-such-event")
    with pytest.raises(SnapshotError):
        store.get("../../etc/passwd")


def test_prune_by_age_and_count(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, retain_seconds=100, max_files=2)
    frame = empty_scene(8, 48, 64)
    for i in range(4):
        p = store.save(f"e{i}", frame, Box(1, 1, 10, 10), "person", 0.5)
        os.utime(p, (1000.0 + i, 1000.0 + i))
    assert store.prune(now=1050.0) == 2  # count limit: the two oldest go
    assert not store.has("e0") and store.has("e3")
    assert store.prune(now=1200.0) == 2  # age limit
    assert list(tmp_path.iterdir()) == []
