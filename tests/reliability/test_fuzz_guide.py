"""Hostile input on the guide robot's voice queries (`parkpatrol/guide/<robot>/query`, QoS 1):
every message ends in exactly one of answered / malformed / rate-limited, no answer path fails,
every answer is valid JSON on the asking robot's own answer topic."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maps import Park, load_park, sample_park_path
from patrol import topics
from patrol.guide.knowledge import KnowledgeBase, knowledge_path_for, load_knowledge
from patrol.guide.service import GuideService
from patrol.guide.voice import VoiceFrontEnd
from robots.clock import WallClock
from tests.reliability.helpers import dumps

pytestmark = pytest.mark.reliability


@dataclass
class FakeBusPublisher:
    """Records what the voice front end publishes (stands in for `MqttBus.publish`)."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.sent.append((topic, payload))


TEXT = st.text(max_size=300)
QUERIES = st.one_of(
    st.fixed_dictionaries({"text": TEXT}, optional={"lang": st.sampled_from(["zh", "en", "fr", "", None, 1]),
                                                   "id": st.one_of(st.text(max_size=100), st.integers(), st.none())}),
    st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=20),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3)),
    st.sampled_from([{"text": "x" * 100_000}, {"text": "\u0000\ud800"}, {"text": "厕所在哪里？" * 50}]),
)
PAYLOADS = st.one_of(QUERIES.map(dumps), st.binary(max_size=300),
                     st.integers(min_value=100, max_value=20_000).map(lambda d: b'{"text":' * d + b'"a"' + b"}" * d))
ROBOTS = st.sampled_from(["guide-1", "guide-2", "", "a/b", "+", "\u202eguide"])


@pytest.fixture(scope="module")
def parts() -> tuple[KnowledgeBase, Park]:
    park_path = sample_park_path()
    return load_knowledge(knowledge_path_for(park_path)), load_park(park_path)


TALLY: Counter[str] = Counter()


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(robot=ROBOTS, payload=PAYLOADS)
async def test_voice_query_fuzz(parts: tuple[KnowledgeBase, Park], robot: str, payload: bytes) -> None:
    bus = FakeBusPublisher()
    voice = VoiceFrontEnd(GuideService(*parts, WallClock()), bus)  # fresh: the rate limit would mask the rest
    await voice.handle(f"parkpatrol/guide/{robot}/query", payload)
    c = voice.counters
    assert c.failed == 0, "an answer path raised"
    assert c.answered + c.malformed + c.rate_limited == 1
    TALLY.update(answered=c.answered, malformed=c.malformed, rate_limited=c.rate_limited)
    for topic, body in bus.sent:
        assert topic == topics.guide_answer(robot)
        assert isinstance(json.loads(body)["text"], str)


def test_voice_fuzz_reached_the_answer_path() -> None:
    """Guards the fuzz above against only ever exercising the rejections (runs after it)."""
    if not TALLY:
        pytest.skip("run together with test_voice_query_fuzz")
    assert TALLY["answered"] > 0 and TALLY["malformed"] > 0, TALLY
