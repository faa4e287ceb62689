"""Photos robots take at incidents, kept with the incident.

A robot answers `capturePhoto` with the photo's URL on its own camera server, which keeps only its
last few photos and is not reachable from the operator's browser (the console loads images from
its own origin only). The service copies each photo into `<data_dir>/incident-photos/<incident>/`
once the robot reports it, and serves it at `/api/incidents/<id>/photos/<actionId>.jpg`.

A robot's word is not trusted blindly: the URL must be on the camera server the robot announced
in its state (`information` of type `cameraStream`), the answer must be a JPEG of at most
`max_bytes`, and the file name is the validated action id.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
JPEG_MAGIC = b"\xff\xd8\xff"


class PhotoError(Exception):
    """The photo cannot be fetched, stored or found (the message says why)."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def photo_path(incident_id: int, action_id: str) -> str:
    """The API path of a stored photo."""
    return f"/api/incidents/{incident_id}/photos/{action_id}.jpg"


class IncidentPhotos:
    def __init__(self, root: Path, *, timeout_s: float = 10.0, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.root = root
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.stored = 0
        self.refused = 0

    def _file(self, incident_id: int, action_id: str) -> Path:
        if not NAME.fullmatch(action_id):
            raise PhotoError(f"action id {action_id[:40]!r} is not 1-128 of A-Z a-z 0-9 _ . : -")
        return self.root / str(int(incident_id)) / f"{action_id}.jpg"

    async def fetch(self, incident_id: int, action_id: str, url: str, camera_url: str | None) -> str:
        """Copy the photo at `url` (on the robot's announced `camera_url` server); its API path."""
        target = self._file(incident_id, action_id)
        try:
            scheme, host, port = _origin(url)
            allowed = _origin(camera_url) if camera_url else None
        except ValueError as exc:
            self.refused += 1
            raise PhotoError(f"{url[:200]!r} is not a valid URL: {exc}") from exc
        if scheme not in ("http", "https") or allowed is None or (scheme, host, port) != allowed:
            self.refused += 1
            raise PhotoError(f"{url[:200]!r} is not on the robot's announced camera server "
                             f"({camera_url or 'none announced'})")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client, \
                    client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise PhotoError(f"{url}: HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise PhotoError(f"{url}: over {self.max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise PhotoError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if not body.startswith(JPEG_MAGIC):
            self.refused += 1
            raise PhotoError(f"{url}: not a JPEG")
        await asyncio.to_thread(self._write, target, bytes(body))
        self.stored += 1
        return photo_path(incident_id, action_id)

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)

    def get(self, incident_id: int, action_id: str) -> bytes:
        """The stored JPEG (blocking)."""
        path = self._file(incident_id, action_id)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise PhotoError(f"incident {incident_id} has no photo {action_id}") from exc
