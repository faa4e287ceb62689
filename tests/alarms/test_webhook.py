"""Signed webhooks against a local HTTP server on a free port: signature, retry with backoff, escalation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from patrol.alarms.model import AlarmSignal, AlarmType, EscalationAction
from patrol.alarms.policy import AlarmPolicy, EscalationStep, WebhookTarget
from patrol.alarms.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, sign, verify_signature
from robots.clock import SimClock
from tests.alarms.harness import DAYTIME, make_harness

SECRET = "s3cret-webhook-key-0123456789"


@dataclass
class Receiver:
    """A local HTTP endpoint answering with `statuses` in turn (then 200), recording each request."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"alarm": 1}'
    signature = sign(SECRET, "1700000000", body)
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, "1700000000", body, signature, now=1700000100)
    assert not verify_signature(SECRET, "1700000000", body + b" ", signature)
    assert not verify_signature("another-secret-0123456", "1700000000", body, signature)
    assert not verify_signature(SECRET, "1700000000", body, signature, now=1700009999)  # replayed late
    assert not verify_signature(SECRET, "soon", body, signature, now=1700000000)


async def _deliver_on(clock: SimClock, coro: asyncio.Future[object] | asyncio.Task[object]) -> None:
    for _ in range(2000):
        if coro.done():
            return
        await clock.advance(1.0)
        await asyncio.sleep(0.005)
    raise AssertionError("delivery did not finish")


async def test_retries_with_backoff_until_success(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    clock = SimClock(1_700_000_000)
    sender = WebhookSender(clock)
    target = WebhookTarget(url=receiver.url, secret=SECRET, backoff_s=2, max_attempts=5)
    try:
        task = asyncio.ensure_future(sender.deliver(target, "alarm.escalated", {"alarm": {"id": 7}}))
        await _deliver_on(clock, task)
        result = task.result()
    finally:
        await sender.aclose()
    assert result.ok and result.attempts == 3 and result.status == 200
    for headers, body in receiver.requests:
        assert verify_signature(SECRET, headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
    stamps = [int(h[TIMESTAMP_HEADER.lower()]) for h, _ in receiver.requests]
    assert stamps[1] - stamps[0] >= 2 and stamps[2] - stamps[1] >= 4  # exponential backoff on the clock
    assert orjson.loads(receiver.requests[0][1]) == {"alarm": {"id": 7}}


async def test_permanent_error_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    clock = SimClock(1_700_000_000)
    sender = WebhookSender(clock)
    target = WebhookTarget(url=receiver.url, secret=SECRET)
    try:
        result = await sender.deliver(target, "alarm.escalated", {})
    finally:
        await sender.aclose()
    assert not result.ok and result.attempts == 1 and result.error == "HTTP 400"


async def test_unreachable_endpoint_gives_up(receiver: Receiver) -> None:
    clock = SimClock(1_700_000_000)
    sender = WebhookSender(clock)
    target = WebhookTarget(url="http://127.0.0.1:9/hook", secret=SECRET, max_attempts=3,
                           timeout_s=1)
    try:
        task = asyncio.ensure_future(sender.deliver(target, "alarm.escalated", {}))
        await _deliver_on(clock, task)
        result = task.result()
    finally:
        await sender.aclose()
    assert not result.ok and result.attempts == 3 and result.status is None and "Connect" in result.error


async def test_escalation_webhook_is_signed_and_logged(receiver: Receiver, database: str) -> None:
    clock = SimClock(DAYTIME)
    policy = AlarmPolicy(escalation=(EscalationStep(after_s=30, action=EscalationAction.WEBHOOK),),
                         webhooks=(WebhookTarget(url=receiver.url, secret=SECRET),))
    h = await make_harness(database, clock, policy=policy)
    try:
        alarm = await h.alarms.signal(AlarmSignal("sensor:smoke1", AlarmType.SMOKE, "sensor_trip"))
        await clock.advance(31)
        await h.alarms.escalator.step()
        await h.alarms.escalator.drain()
        headers, body = receiver.requests[0]
        assert verify_signature(SECRET, headers["x-parkpatrol-timestamp"], body, headers["x-parkpatrol-signature"],
                                now=clock.now())
        payload = orjson.loads(body)
        assert payload["event"] == "alarm.escalated" and payload["alarm"]["id"] == alarm.id
        timeline = [e.kind for e in (await h.alarms.get_alarm(alarm.id)).timeline]
        assert timeline == ["raised", "escalated", "webhook_delivered"]
        assert [e.action for e in await h.audit.entries(target=f"alarm:{alarm.id}")][:2] == [
            "alarm.webhook", "alarm.escalate"]
    finally:
        await h.close()
