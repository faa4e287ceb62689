"""Aggregate question statistics for the park office, and the kiosk's per-client rate limit.

Privacy: no question text, answer or client address is ever stored by the statistics, only
counts (per intent, place, FAQ entry, language, channel). The rate limiter keeps client
addresses in memory for at most its refill window, never logs or persists them.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from patrol.guide.engine import Answer
from robots.clock import Clock


class GuideStats:
    """Counters of what visitors ask; `snapshot()` is what the park office sees."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.since = clock.now()
        self.questions = 0
        self.unknown = 0
        self.rejected = 0  # malformed, too long or rate-limited requests
        self.by_intent: Counter[str] = Counter()
        self.by_poi: Counter[str] = Counter()
        self.by_faq: Counter[str] = Counter()
        self.by_lang: Counter[str] = Counter()
        self.by_channel: Counter[str] = Counter()
        self.escorts_requested: Counter[str] = Counter()  # per destination POI

    def record(self, answer: Answer, channel: str) -> None:
        self.questions += 1
        self.by_intent[answer.intent.value] += 1
        self.by_lang[answer.lang] += 1
        self.by_channel[channel] += 1
        if not answer.known:
            self.unknown += 1
            return
        if answer.faq is not None:
            self.by_faq[answer.faq] += 1
        elif answer.pois:
            self.by_poi[answer.pois[0]] += 1

    def record_escort(self, poi: str) -> None:
        self.escorts_requested[poi] += 1

    def record_rejected(self) -> None:
        self.rejected += 1

    def snapshot(self, top: int = 20) -> dict[str, Any]:
        answered = self.questions - self.unknown
        return {
            "since": self.since,
            "now": self._clock.now(),
            "questions": self.questions,
            "answered": answered,
            "unknown": self.unknown,
            "unknown_share": round(self.unknown / self.questions, 4) if self.questions else 0.0,
            "rejected": self.rejected,
            "by_intent": dict(self.by_intent.most_common()),
            "by_lang": dict(self.by_lang.most_common()),
            "by_channel": dict(self.by_channel.most_common()),
            "top_pois": dict(self.by_poi.most_common(top)),
            "top_faq": dict(self.by_faq.most_common(top)),
            "escorts_requested": dict(self.escorts_requested.most_common(top)),
        }


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per client: `burst` requests at once, refilled at `per_minute` per minute.

    Memory is bounded (`max_clients`, least recently seen dropped first).
    """

    def __init__(self, clock: Clock, *, per_minute: float = 20.0, burst: int = 8,
                 max_clients: int = 10_000) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit: per_minute must be > 0 and burst >= 1")
        self._clock = clock
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def check(self, client: str) -> float | None:
        """Take one token for `client`: None if allowed, else seconds until the next is available."""
        now = self._clock.now()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate
