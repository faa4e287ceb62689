"""The guide robot's voice front end over MQTT.

The robot publishes recognised speech on ``parkpatrol/guide/<robot>/query`` as JSON
``{"text": ..., "lang": "zh"|"en" (optional), "id": ... (optional, echoed)}``; the service
answers on ``parkpatrol/guide/<robot>/answer`` with the answer text, places, confidence and
route summary. Optionally it also has the robot say the answer (a `speak` action through the
escort executor) and, for "take me to ...", queues an escort from where the robot stands.

Bad payloads are counted and logged, never raised: a noisy microphone must not stop the bus.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patrol import topics
from patrol.guide.escort import EscortError, EscortExecutor
from patrol.guide.knowledge import Lang
from patrol.guide.service import MAX_TEXT, GuideService
from patrol.guide.text import Intent

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the voice front end needs of the MQTT bus (`patrol.bus.MqttBus` has it)."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class VoiceQuery(BaseModel):
    """A recognised utterance (extra fields from the robot's speech stack are ignored)."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    lang: Lang | None = None
    id: str | None = Field(default=None, max_length=64)


@dataclass
class VoiceCounters:
    answered: int = 0
    malformed: int = 0
    rate_limited: int = 0
    escorts: int = 0
    failed: int = 0  # publishing or speaking failed


class VoiceFrontEnd:
    """Handles `parkpatrol/guide/+/query` messages (subscribe `handle` on the bus)."""

    def __init__(self, guide: GuideService, publisher: Publisher, *, speaker: EscortExecutor | None = None,
                 speak_answers: bool = False, auto_escort: bool = True) -> None:
        self.guide = guide
        self.publisher = publisher
        self.speaker = speaker
        self.speak_answers = speak_answers and speaker is not None
        self.auto_escort = auto_escort
        self.counters = VoiceCounters()

    async def handle(self, topic: str, payload: bytes) -> None:
        """Answer one query; never raises (except cancellation)."""
        robot = topics.guide_robot_from_query(topic)
        if robot is None:
            self._malformed(topic, "not a parkpatrol/guide/<robot>/query topic")
            return
        try:
            query = VoiceQuery.model_validate_json(payload)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            self._malformed(topic, f"{where}: {first['msg']}")
            return
        if self.guide.limiter.check(f"robot:{robot}") is not None:
            self.counters.rate_limited += 1
            self.guide.stats.record_rejected()
            log.warning("voice queries from robot %s are over the rate limit; dropped one", robot)
            return
        try:
            reply = await self._answer(robot, query)
            await self.publisher.publish(topics.guide_answer(robot), json.dumps(reply, ensure_ascii=False).encode(),
                                         qos=1, retain=False)
            self.counters.answered += 1
            if self.speak_answers and self.speaker is not None:
                await self.speaker.speak(robot, reply["text"], reply["lang"])
        except Exception as e:  # the bus must keep going whatever one answer does
            self.counters.failed += 1
            log.warning("voice answer to robot %s failed: %s", robot, e)

    def _malformed(self, topic: str, reason: str) -> None:
        self.counters.malformed += 1
        self.guide.stats.record_rejected()
        log.warning("malformed guide query on %s: %s", topic, reason)

    async def _answer(self, robot: str, query: VoiceQuery) -> dict[str, Any]:
        answer = self.guide.ask(query.text, query.lang, None, channel="voice")
        reply: dict[str, Any] = {
            "id": query.id, "text": answer.text, "lang": answer.lang, "intent": answer.intent.value,
            "confidence": answer.confidence, "pois": list(answer.pois), "faq": answer.faq,
            "route": None if answer.route is None else {
                "metres": round(answer.route.metres, 1), "walking_minutes": answer.route.minutes,
                "waypoints": list(answer.route.route.waypoints)},
            "escort": None,
        }
        if (self.auto_escort and answer.intent is Intent.TAKE_ME and answer.pois
                and self.guide.escorts is not None):
            origin = await self._where(robot)
            try:
                view = self.guide.request_escort(answer.pois[0], origin, answer.lang)
            except EscortError as e:
                log.info("voice escort request from robot %s refused: %s", robot, e)
            else:
                self.counters.escorts += 1
                reply["escort"] = {"id": view.id, "position": view.position, "eta_s": view.eta_s}
                reply["text"] = self._escort_text(answer.lang, view.position, view.eta_s)
        return reply

    async def _where(self, robot: str) -> str | None:
        if self.speaker is None:
            return None
        where = await self.speaker.last_waypoint(robot)
        return where if where is not None and where in self.guide.park.waypoints else None

    @staticmethod
    def _escort_text(lang: Lang, position: int, eta_s: float | None) -> str:
        minutes = max(1, round((eta_s or 0.0) / 60.0))
        if position <= 1 and (eta_s or 0.0) < 60:
            return "好的，请跟我来。" if lang == "zh" else "Sure, please follow me."
        if lang == "zh":
            return f"好的，已为您预约导览，您排在第{position}位，机器人大约{minutes}分钟后来接您。"
        return f"Sure. You are number {position} in the queue; a guide robot will come for you in about {minutes} min."
