"""Escalation of unacknowledged alarms: console banner, then sound, then signed webhooks.

Step `i` of the policy fires when an alarm has been active and unacknowledged for `after_s`
seconds since its first occurrence. The level reached is stored with the alarm, so a restart
neither repeats nor skips a step. Acknowledging or clearing stops escalation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patrol.alarms.coltypes import utc_from_clock
from patrol.alarms.live import LiveEvent, LiveHub
from patrol.alarms.model import EscalationAction, Severity
from patrol.alarms.policy import AlarmPolicy, EscalationStep, WebhookTarget
from patrol.alarms.schemas import AlarmPublic
from patrol.alarms.tables import AlarmEventRow, AlarmRow
from patrol.alarms.webhook import DeliveryResult, WebhookSender
from patrol.audit import AuditLog
from patrol.store.retry import is_transient
from robots.clock import Clock

log = logging.getLogger(__name__)


class Escalator:
    """Runs the escalation timers; `wake()` after any alarm change."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, policy: AlarmPolicy,
                 audit: AuditLog, live: LiveHub, lock: asyncio.Lock, webhooks: WebhookSender,
                 publish: Callable[[AlarmPublic], Awaitable[None]]) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy
        self._audit = audit
        self._live = live
        self._lock = lock
        self._webhooks = webhooks
        self._publish = publish
        self._changed = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self.fired: list[tuple[int, int, EscalationAction]] = []  # (alarm id, level, action), for inspection

    def wake(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        try:
            store_waits = 0
            while True:
                self._changed.clear()
                try:
                    next_at = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # the store is briefly away: due steps stay due, try again with backoff
                    store_waits += 1
                    if store_waits == 1 or store_waits % 20 == 0:
                        log.warning("escalation waits for the store (%s), attempt %d",
                                    str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
                                    store_waits)
                    await asyncio.sleep(min(5.0, 0.1 * 2 ** min(store_waits, 6)))
                    continue
                store_waits = 0
                await self._wait(None if next_at is None else max(0.0, next_at - self._clock.now()))
        finally:
            for task in list(self._deliveries):
                task.cancel()
            if self._deliveries:
                await asyncio.gather(*self._deliveries, return_exceptions=True)
            await self._webhooks.aclose()

    async def _wait(self, delay: float | None) -> None:
        waiters: list[asyncio.Task[object]] = [asyncio.ensure_future(self._changed.wait())]
        if delay is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            for waiter in waiters:
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def step(self) -> float | None:
        """Fire every step that is due now; the clock time of the next one due, or None."""
        steps = self._policy.escalation
        if not steps:
            return None
        now = self._clock.now()
        next_at: float | None = None
        fired: list[tuple[AlarmPublic, EscalationStep]] = []
        async with self._lock, self._sessions.begin() as session:
            rows = (await session.scalars(select(AlarmRow).where(
                AlarmRow.active.is_(True), AlarmRow.acked.is_(False),
                AlarmRow.escalation_level < len(steps)))).all()
            for row in rows:
                if not Severity(row.severity).at_least(self._policy.escalation_min_severity):
                    continue
                start = row.first_at.timestamp()
                while row.escalation_level < len(steps) and start + steps[row.escalation_level].after_s <= now:
                    step = steps[row.escalation_level]
                    row.escalation_level += 1
                    row.escalated_at = utc_from_clock(now)
                    session.add(AlarmEventRow(alarm_id=row.id, at=utc_from_clock(now), kind="escalated",
                                              actor="system", detail={"level": row.escalation_level,
                                                                      "action": step.action.value}))
                    fired.append((AlarmPublic.of(row, self._policy.escalation), step))
                if row.escalation_level < len(steps):
                    due = start + steps[row.escalation_level].after_s
                    next_at = due if next_at is None else min(next_at, due)
        for alarm, step in fired:
            await self._fire(alarm, step)
        return next_at

    async def _fire(self, alarm: AlarmPublic, step: EscalationStep) -> None:
        self.fired.append((alarm.id, alarm.escalation_level, step.action))
        log.warning("alarm %d (%s %s) unacknowledged: escalation %d -> %s", alarm.id, alarm.type, alarm.source,
                    alarm.escalation_level, step.action.value)
        await self._audit.system("alarm.escalate", f"alarm:{alarm.id}",
                                 {"level": alarm.escalation_level, "action": step.action.value})
        self._live.emit(LiveEvent("escalation", {"alarm": alarm.model_dump(mode="json"),
                                                 "level": alarm.escalation_level, "action": step.action.value}))
        await self._publish(alarm)
        if step.action == EscalationAction.WEBHOOK:
            for target in self._policy.webhooks:
                payload = {"event": "alarm.escalated", "level": alarm.escalation_level,
                           "alarm": alarm.model_dump(mode="json")}
                task = asyncio.create_task(self._deliver(alarm.id, target, payload))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, alarm_id: int, target: WebhookTarget, payload: dict[str, object]) -> None:
        result: DeliveryResult = await self._webhooks.deliver(target, "alarm.escalated", dict(payload))
        detail = {"url": result.url, "ok": result.ok, "attempts": result.attempts, "status": result.status,
                  "error": result.error or None}
        async with self._sessions.begin() as session:
            session.add(AlarmEventRow(alarm_id=alarm_id, at=utc_from_clock(self._clock.now()),
                                      kind="webhook_delivered" if result.ok else "webhook_failed",
                                      actor="system", detail=detail))
        await self._audit.system("alarm.webhook", f"alarm:{alarm_id}", detail)

    async def drain(self) -> None:
        """Wait for webhook deliveries in flight (tests, shutdown)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
