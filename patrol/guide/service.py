"""The guide service: question answering, escort queue, statistics and limits, wired for one park.

The lifespan builds one `GuideService`, runs `service.run()` in its TaskGroup (it serves the
escort queue) and puts it in the request state as ``guide``; the API and the voice front end
only translate to and from it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from maps import Park, load_park
from patrol.guide.engine import DEFAULT_THRESHOLD, Answer, GuideEngine
from patrol.guide.escort import EscortError, EscortExecutor, EscortQueue, EscortView
from patrol.guide.knowledge import KnowledgeBase, Lang, load_knowledge
from patrol.guide.routes import ParkRoutes
from patrol.guide.stats import GuideStats, RateLimiter
from robots.clock import Clock

MAX_TEXT = 300  # characters in a question
MAX_PLACE = 120  # characters in a place ("from", "poi")


@dataclass(frozen=True, slots=True)
class GuideSettings:
    """Tunables; defaults suit a kiosk in a park lobby."""

    threshold: float = DEFAULT_THRESHOLD
    per_minute: float = 20.0
    burst: int = 8
    max_waiting_escorts: int = 20


class EscortUnavailable(RuntimeError):
    """No guide robot is configured for escorts."""


class GuideService:
    """Everything the kiosk and the guide robot's voice front end ask of the control service."""

    def __init__(self, kb: KnowledgeBase, park: Park, clock: Clock, *, executor: EscortExecutor | None = None,
                 robots: tuple[str, ...] = (), settings: GuideSettings | None = None) -> None:
        self.settings = settings or GuideSettings()
        self.kb = kb
        self.park = park
        self.clock = clock
        self.routes = ParkRoutes(park)
        self.engine = GuideEngine(kb, self.routes, threshold=self.settings.threshold)
        self.stats = GuideStats(clock)
        self.limiter = RateLimiter(clock, per_minute=self.settings.per_minute, burst=self.settings.burst)
        # status polls from the kiosk page are cheap but still bounded
        self.poll_limiter = RateLimiter(clock, per_minute=self.settings.per_minute * 6, burst=self.settings.burst * 3)
        self.escorts: EscortQueue | None = None
        if executor is not None and robots:
            self.escorts = EscortQueue(kb, self.routes, executor, clock, robots,
                                       max_waiting=self.settings.max_waiting_escorts)

    @classmethod
    def from_files(cls, park_path: str | Path, knowledge_path: str | Path, clock: Clock, *,
                   executor: EscortExecutor | None = None, robots: tuple[str, ...] = (),
                   settings: GuideSettings | None = None) -> GuideService:
        """Load the park map and its knowledge base (MapError / KnowledgeError say what is wrong)."""
        return cls(load_knowledge(knowledge_path), load_park(park_path), clock, executor=executor, robots=robots,
                   settings=settings)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)

    def ask(self, text: str, lang: Lang | None = None, origin: str | None = None, *,
            channel: str = "kiosk") -> Answer:
        """Answer a question and count it (PlaceError when `origin` is not a place in the park)."""
        answer = self.engine.ask(text[:MAX_TEXT], lang, origin, now=self.now())
        self.stats.record(answer, channel)
        return answer

    def request_escort(self, poi: str, origin: str | None, lang: Lang) -> EscortView:
        """Queue an escort (EscortUnavailable without robots, EscortError for a bad request)."""
        if self.escorts is None:
            raise EscortUnavailable("no guide robot is configured for escorts")
        view = self.escorts.submit(poi, origin, lang)
        self.stats.record_escort(poi)
        return view

    def escort(self, escort_id: str) -> EscortView:
        """A mission's state; KeyError when unknown."""
        if self.escorts is None:
            raise KeyError(escort_id)
        return self.escorts.view(escort_id)

    def cancel_escort(self, escort_id: str) -> EscortView:
        if self.escorts is None:
            raise KeyError(escort_id)
        return self.escorts.cancel(escort_id)

    async def run(self) -> None:
        """Serve escort missions until cancelled; without guide robots it only waits to be cancelled."""
        if self.escorts is None:
            await asyncio.Event().wait()  # nothing to serve; stay up like the other service tasks
            return
        await self.escorts.run()


__all__ = ["MAX_PLACE", "MAX_TEXT", "EscortError", "EscortUnavailable", "GuideService", "GuideSettings"]
