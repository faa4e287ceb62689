"""Signed webhooks: HMAC-SHA256 over ``<timestamp>.<body>``, retried with exponential backoff.

A receiver checks a delivery with `verify_signature(secret, timestamp_header, body, signature_header)`:
the signature header is ``sha256=<hex>``; the timestamp (integer seconds) is inside the signed text so
a captured delivery cannot be replayed later than `tolerance_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from patrol.alarms.policy import WebhookTarget
from robots.clock import Clock

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ParkPatrol-Signature"
TIMESTAMP_HEADER = "X-ParkPatrol-Timestamp"
EVENT_HEADER = "X-ParkPatrol-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
                     tolerance_s: float = 300.0) -> bool:
    """Whether `signature` is valid for `body` and, when `now` is given, `timestamp` is recent enough."""
    if now is not None:
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        if abs(now - sent) > tolerance_s:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    url: str
    ok: bool
    attempts: int
    status: int | None
    error: str


def _retryable(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


class WebhookSender:
    """Posts JSON to webhook targets; waits between attempts on the given clock."""

    def __init__(self, clock: Clock, client: httpx.AsyncClient | None = None) -> None:
        self._clock = clock
        self._client = client
        self._own_client = client is None

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def deliver(self, target: WebhookTarget, event: str, payload: dict[str, Any]) -> DeliveryResult:
        """POST `payload` to `target` until a 2xx, a permanent 4xx, or `max_attempts` tries."""
        body = orjson.dumps(payload)
        url = str(target.url)
        status: int | None = None
        error = ""
        for attempt in range(1, target.max_attempts + 1):
            timestamp = str(int(self._clock.now()))
            headers = {
                "content-type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(target.secret, timestamp, body),
                EVENT_HEADER: event,
            }
            try:
                response = await self._http().post(url, content=body, headers=headers, timeout=target.timeout_s)
                status, error = response.status_code, ""
                if 200 <= status < 300:
                    return DeliveryResult(url, True, attempt, status, "")
                error = f"HTTP {status}"
                if not _retryable(status):
                    break
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < target.max_attempts:
                delay = min(target.backoff_max_s, target.backoff_s * 2 ** (attempt - 1))
                log.warning("webhook %s attempt %d failed (%s); retrying in %.1f s", url, attempt, error, delay)
                await self._clock.sleep(delay)
        log.error("webhook %s gave up: %s", url, error)
        return DeliveryResult(url, False, attempt, status, error)
