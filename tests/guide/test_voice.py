"""Voice front end: queries from the guide robot over a real Mosquitto, answers back; bad input counted."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from maps import Park
from patrol import topics
from patrol.broker import BrokerEndpoint
from patrol.bus import BrokerAddress, MqttBus
from patrol.guide.knowledge import KnowledgeBase
from patrol.guide.service import GuideService
from patrol.guide.voice import VoiceFrontEnd
from robots.clock import SimClock
from tests.guide.conftest import FakeEscortExecutor


@dataclass
class FakePublisher:
    """Test-only publisher recording what would go to the broker; `broken` makes publishing fail."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    broken: bool = False

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        if self.broken:
            raise ConnectionError("broker gone")
        assert qos == 1 and not retain
        self.sent.append((topic, json.loads(payload)))


async def test_query_over_mqtt_is_answered_on_the_answer_topic(broker: BrokerEndpoint, kb: KnowledgeBase,
                                                                park: Park) -> None:
    guide = GuideService(kb, park, SimClock())
    bus = MqttBus(BrokerAddress(broker.host, broker.port), client_id="t-guide-voice")
    voice = VoiceFrontEnd(guide, bus)
    bus.subscribe(topics.GUIDE_QUERY_FILTER, voice.handle)
    async with bus, asyncio.TaskGroup() as tg:
        task = tg.create_task(bus.run())
        assert await bus.wait_connected(10)
        async with aiomqtt.Client(broker.host, broker.port, identifier="t-guide-robot") as robot:
            await robot.subscribe(topics.guide_answer("guide1"), qos=1)
            await asyncio.sleep(0.2)
            query = "parkpatrol/guide/guide1/query"
            await robot.publish(query, b"not json at all", qos=1)
            await robot.publish(query, json.dumps({"lang": "zh"}).encode(), qos=1)
            await robot.publish(query, json.dumps({"text": "请问食堂怎么走", "id": "u-17"}, ensure_ascii=False)
                                .encode(), qos=1)

            async def first_answer() -> dict[str, Any]:
                async for message in robot.messages:
                    assert isinstance(message.payload, bytes)
                    reply: dict[str, Any] = json.loads(message.payload)
                    return reply
                raise AssertionError("no answer")

            reply = await asyncio.wait_for(first_answer(), 10)
        task.cancel()
    assert reply["id"] == "u-17" and reply["lang"] == "zh" and reply["intent"] == "directions"
    assert reply["pois"] == ["canteen"] and "员工食堂" in reply["text"]
    assert reply["route"]["metres"] > 100 and reply["route"]["walking_minutes"] >= 1
    assert voice.counters.malformed == 2 and voice.counters.answered == 1
    assert guide.stats.by_channel == {"voice": 1}


async def test_malformed_queries_are_counted_never_raised(kb: KnowledgeBase, park: Park) -> None:
    guide = GuideService(kb, park, SimClock())
    publisher = FakePublisher()
    voice = VoiceFrontEnd(guide, publisher)
    bad = [("parkpatrol/guide/guide1/query", b"\xff\xfe"), ("parkpatrol/guide/guide1/query", b"[1, 2]"),
           ("parkpatrol/guide/guide1/query", json.dumps({"text": ""}).encode()),
           ("parkpatrol/guide/guide1/query", json.dumps({"text": "x" * 1000}).encode()),
           ("parkpatrol/guide/guide1/query", json.dumps({"text": "hi", "lang": "fr"}).encode()),
           ("parkpatrol/guide//query", json.dumps({"text": "canteen"}).encode()),
           ("parkpatrol/other/guide1/query", json.dumps({"text": "canteen"}).encode())]
    for topic, payload in bad:
        await voice.handle(topic, payload)
    assert voice.counters.malformed == len(bad) and publisher.sent == []
    publisher.broken = True
    await voice.handle("parkpatrol/guide/guide1/query", json.dumps({"text": "canteen", "extra": 1}).encode())
    assert voice.counters.failed == 1


async def test_take_me_by_voice_queues_an_escort_and_speaks(kb: KnowledgeBase, park: Park) -> None:
    clock = SimClock()
    executor = FakeEscortExecutor(clock)
    guide = GuideService(kb, park, clock, executor=executor, robots=("guide1",))
    publisher = FakePublisher()
    voice = VoiceFrontEnd(guide, publisher, speaker=executor, speak_answers=True)
    runner = asyncio.create_task(guide.run())
    try:
        speaking = asyncio.create_task(voice.handle("parkpatrol/guide/guide1/query",
                                                    json.dumps({"text": "take me to the canteen"}).encode()))
        await asyncio.wait_for(executor.speaking.wait(), 5)
        await clock.advance(10)
        await speaking
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    topic, reply = publisher.sent[0]
    assert topic == "parkpatrol/guide/guide1/answer"
    assert reply["intent"] == "take_me" and reply["escort"]["position"] == 1
    assert reply["text"] == "Sure, please follow me."
    assert ("guide1", "speak", "en:Sure, please follow me.") in executor.steps
    assert voice.counters.escorts == 1 and guide.stats.escorts_requested == {"canteen": 1}
