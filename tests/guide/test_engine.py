"""Question answering on the sample park: accuracy on realistic questions, no invented answers, routes."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from maps import Park
from patrol.guide.engine import Answer, GuideEngine
from patrol.guide.knowledge import KnowledgeBase
from patrol.guide.routes import PlaceError
from patrol.guide.text import Intent, detect_intent, detect_lang, tokens

QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "guide_questions.yaml"
REPO = Path(__file__).resolve().parents[2]


def _questions() -> list[dict[str, Any]]:
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = data["questions"]
    return items


def _got(answer: Answer) -> str:
    if not answer.known:
        return "unknown"
    if answer.faq is not None:
        return f"faq:{answer.faq}"
    return answer.pois[0]


def test_question_set_is_realistic_and_balanced(kb: KnowledgeBase) -> None:
    items = _questions()
    assert len(items) >= 80
    zh = [q for q in items if detect_lang(q["q"]) == "zh"]
    assert abs(len(zh) - len(items) / 2) <= 2, "about half Chinese, half English"
    unknown = [q for q in items if q["expect"] == "unknown"]
    assert len(unknown) >= 10
    for item in items:
        expect = item["expect"]
        assert expect == "unknown" or expect in kb.pois or expect.removeprefix("faq:") in kb.faq_by_id(), expect


def test_top1_accuracy_and_no_invented_answers(engine: GuideEngine, kb: KnowledgeBase) -> None:
    items = _questions()
    wrong: list[str] = []
    for item in items:
        answer = engine.ask(item["q"])
        ok = _got(answer) == item["expect"] and item.get("intent", answer.intent.value) == answer.intent.value
        if not ok:
            wrong.append(f"{item['q']!r}: expected {item['expect']} ({item.get('intent')}), "
                         f"got {_got(answer)} ({answer.intent.value}, {answer.confidence})")
        if item["expect"] == "unknown":
            # nothing invented: the "don't know" text with the hotline, no place, no route
            assert answer.intent is Intent.UNKNOWN, item["q"]
            assert kb.hotline.number in answer.text
            assert answer.route is None and answer.faq is None
    accuracy = 1 - len(wrong) / len(items)
    print(f"guide top-1 accuracy: {accuracy:.3f} on {len(items)} questions")
    assert accuracy >= 0.95, "\n".join(wrong)


def test_answers_in_the_language_asked(engine: GuideEngine) -> None:
    assert engine.ask("食堂在哪里").lang == "zh"
    assert engine.ask("where is the canteen").lang == "en"
    forced = engine.ask("where is the canteen", lang="zh")
    assert forced.lang == "zh" and "员工食堂" in forced.text
    unknown = engine.ask("今天天气怎么样")
    assert unknown.lang == "zh" and "热线" in unknown.text


def test_place_answers_carry_a_walking_route_from_the_kiosk(engine: GuideEngine, park: Park) -> None:
    answer = engine.ask("how do I get to the clinic?")
    assert answer.intent is Intent.DIRECTIONS and answer.pois[0] == "clinic"
    route = answer.route
    assert route is not None and route.origin == "kiosk" and route.destination == "clinic"
    assert route.route.waypoints[0] == park.pois["kiosk"].entrance
    assert route.route.waypoints[-1] == park.pois["clinic"].entrance
    assert route.metres > 100 and route.minutes >= 1
    assert len(route.route.polyline) == len(route.route.latlon) >= 2
    assert f"{route.metres:.0f} m" in answer.text
    data = route.to_json()
    assert data["walking_minutes"] == route.minutes and data["origin"] == "kiosk"


@pytest.mark.parametrize("origin", ["gate_south", "南门", "e_canteen"])
def test_route_from_a_given_place(engine: GuideEngine, park: Park, origin: str) -> None:
    answer = engine.ask("where is the talent apartment", origin=origin)
    assert answer.route is not None and answer.route.origin == origin
    assert answer.route.route.waypoints[-1] == park.pois["talent_apartments"].entrance


def test_route_from_a_position(engine: GuideEngine, park: Park) -> None:
    poi = park.pois["gate_south"]
    lat, lon = park.to_wgs84(poi.x + 3.0, poi.y + 3.0)
    answer = engine.ask("take me to the canteen", origin=f"{lat:.6f},{lon:.6f}")
    assert answer.intent is Intent.TAKE_ME and answer.route is not None
    assert "where you are" in answer.text
    with pytest.raises(PlaceError, match="outside the park"):
        engine.ask("canteen", origin="30.0,104.0")
    with pytest.raises(PlaceError, match="unknown place"):
        engine.ask("canteen", origin="the moon")


def test_hours_answers_use_the_knowledge_base_and_say_whether_open(engine: GuideEngine) -> None:
    noon = datetime(2026, 11, 30, 12, 0)  # a Monday, park-local
    answer = engine.ask("when does the canteen open?", now=noon)
    assert answer.intent is Intent.HOURS and answer.route is None
    assert "06:30-09:00, 11:00-13:30, 17:00-19:30" in answer.text and "open now" in answer.text
    night = engine.ask("诊所几点开门", now=datetime(2026, 11, 30, 22, 0))
    assert "周一至周五 08:30-17:30" in night.text and "现在不在开放时间" in night.text
    closed = engine.ask("is the computing centre open?")
    assert "not open to visitors" in closed.text


def test_ambiguous_partial_names_ask_back_instead_of_guessing(engine: GuideEngine, kb: KnowledgeBase) -> None:
    answer = engine.ask("中心在哪")
    assert answer.intent is Intent.UNKNOWN and len(answer.pois) >= 2
    assert kb.hotline.number in answer.text


def test_take_me_to_a_place_the_robot_cannot_lead_to(engine: GuideEngine) -> None:
    answer = engine.ask("take me to the substation")
    assert answer.pois[0] == "substation"
    assert "not open to visitors" in answer.text


def test_intents_and_tokens() -> None:
    assert detect_intent("带我去食堂") is Intent.TAKE_ME
    assert detect_intent("could you walk me to the gate") is Intent.TAKE_ME
    assert detect_intent("what time does it close") is Intent.HOURS
    assert detect_intent("食堂怎么走") is Intent.DIRECTIONS
    assert detect_intent("where's the shop") is Intent.WHERE
    assert detect_intent("wifi password") is None
    assert tokens("Where are the Talent Apartments?") == ["talent", "apartment"]
    assert "食堂" in tokens("请问食堂在哪里")
    assert detect_lang("去canteen怎么走") == "zh" and detect_lang("A1 building") == "en"


def test_empty_and_noise_questions_are_unknown(engine: GuideEngine) -> None:
    for text in ["", "   ", "???", "嗯嗯嗯", "asdfghjkl qwerty", "x" * 300]:
        answer = engine.ask(text)
        assert answer.intent is Intent.UNKNOWN, text


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120))
def test_any_text_gets_an_answer_without_errors(engine: GuideEngine, text: str) -> None:
    answer = engine.ask(text)
    assert 0.0 <= answer.confidence <= 1.0
    assert answer.text
    assert answer.known or not answer.route


def test_jieba_and_bm25_import_quietly_without_warnings() -> None:
    code = ("import warnings; warnings.simplefilter('error');"
            "from patrol.guide.text import tokens; import rank_bm25, rapidfuzz, pypinyin;"
            "assert tokens('人才公寓怎么走') == ['人才', '公寓']")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "jieba must not print its 'Building prefix dict' chatter"
