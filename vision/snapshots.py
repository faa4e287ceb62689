"""Best snapshot per event: one JPEG (plus a small JSON sidecar with the box) kept with retention."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import cv2
import numpy as np

from vision.types import Box, Frame

log = logging.getLogger(__name__)
MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024
"""Largest snapshot a worker sends and the service accepts (a 1080p JPEG at quality 85 is ~0.3 MB)."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class SnapshotError(LookupError):
    """No snapshot is stored for the requested event."""


def _name(event_id: str) -> str:
    safe = _SAFE.sub("_", event_id)
    if not safe or safe.startswith("."):
        raise SnapshotError(f"invalid event id {event_id!r}")
    return safe


class SnapshotStore:
    """JPEG snapshots under `root`, one per event, pruned after `retain_seconds` or beyond `max_files`."""

    def __init__(self, root: Path, retain_seconds: float = 7 * 86400, max_files: int = 5000,
                 quality: int = 85) -> None:
        self.root = root
        self.retain_seconds = retain_seconds
        self.max_files = max_files
        self.quality = quality
        root.mkdir(parents=True, exist_ok=True)

    def path(self, event_id: str) -> Path:
        return self.root / f"{_name(event_id)}.jpg"

    def save(self, event_id: str, frame: Frame, box: Box, label: str, score: float) -> Path:
        """Store (replace) the snapshot of `event_id`."""
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"snapshot of {event_id}: JPEG encoding failed for frame {frame.shape}")
        target = self.path(event_id)
        tmp = target.with_suffix(".jpg.tmp")
        tmp.write_bytes(jpeg.tobytes())
        tmp.replace(target)
        meta = {"box": box.as_list(), "label": label, "score": round(score, 3)}
        target.with_suffix(".json").write_text(json.dumps(meta))
        return target

    def put(self, event_id: str, jpeg: bytes, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> Path:
        """Store (replace) the snapshot of `event_id` from JPEG bytes another process took.

        Raises `ValueError` for an empty, oversized or undecodable payload; nothing is written then.
        """
        if not jpeg:
            raise ValueError(f"snapshot of {event_id}: empty payload")
        if len(jpeg) > max_bytes:
            raise ValueError(f"snapshot of {event_id}: {len(jpeg)} bytes, over the {max_bytes}-byte limit")
        if not jpeg.startswith(b"\xff\xd8\xff"):
            raise ValueError(f"snapshot of {event_id}: not a JPEG (no SOI marker)")
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if img is None:
            raise ValueError(f"snapshot of {event_id}: the JPEG does not decode")
        target = self.path(event_id)
        tmp = target.with_suffix(".jpg.tmp")
        tmp.write_bytes(jpeg)
        tmp.replace(target)
        target.with_suffix(".json").unlink(missing_ok=True)  # no box metadata travels with it
        return target

    def stamp(self, event_id: str) -> int | None:
        """An identity of the stored snapshot's version, None when there is none.

        Every save writes a new file (new inode), so a replaced snapshot gets a new stamp.
        """
        try:
            st = self.path(event_id).stat()
        except (FileNotFoundError, SnapshotError):
            return None
        return hash((st.st_ino, st.st_mtime_ns, st.st_size))

    def has(self, event_id: str) -> bool:
        try:
            return self.path(event_id).exists()
        except SnapshotError:
            return False

    def get(self, event_id: str, *, boxes: bool = False) -> bytes:
        """JPEG bytes of the event's best snapshot; `boxes=True` draws the object's box and label."""
        target = self.path(event_id)
        if not target.exists():
            raise SnapshotError(f"no snapshot for event {event_id!r} in {self.root}")
        data = target.read_bytes()
        if not boxes:
            return data
        meta_path = target.with_suffix(".json")
        if not meta_path.exists():
            return data
        meta = json.loads(meta_path.read_text())
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            return data
        x1, y1, x2, y2 = (int(v) for v in meta["box"])
        color = (0, 0, 255) if meta.get("label") == "person_fallen" else (0, 200, 255)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)
        text = f"{meta.get('label', '')} {float(meta.get('score', 0.0)):.2f}"
        cv2.putText(img, text, (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
        ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return jpeg.tobytes() if ok else data

    def prune(self, now: float | None = None) -> int:
        """Delete snapshots older than the retention or beyond `max_files` (oldest first)."""
        now = time.time() if now is None else now
        files = sorted(self.root.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        removed = 0
        for i, p in enumerate(files):
            if now - p.stat().st_mtime > self.retain_seconds or len(files) - i > self.max_files:
                p.unlink(missing_ok=True)
                p.with_suffix(".json").unlink(missing_ok=True)
                removed += 1
        return removed
