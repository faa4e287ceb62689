"""The knowledge base: the shipped file is valid and agrees with the map; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from maps import Park
from patrol.guide.knowledge import KnowledgeBase, KnowledgeError, hours_text, load_knowledge, parse_knowledge
from patrol.guide.text import normalise

MINIMAL = """
version: 1
park: {name: {zh: 测试园区, en: Test Park}, home_poi: kiosk}
hotline: {number: "0832-1111111", name: {zh: 热线, en: hotline}}
pois:
  kiosk:
    name: {zh: 服务台, en: Kiosk}
    category: info
    description: {zh: 服务台, en: the kiosk}
"""


def test_sample_covers_every_poi_of_the_map_with_the_same_names_and_hours(park: Park, kb: KnowledgeBase) -> None:
    assert set(kb.pois) == set(park.pois)
    for poi in park.pois.values():
        info = kb.pois[poi.id]
        assert (info.name.zh, info.name.en) == (poi.name_zh, poi.name_en), poi.id
        assert info.opening_hours == poi.opening_hours.text, poi.id
        assert info.category == poi.category, poi.id
        names = {normalise(n) for n in (info.name.zh, info.name.en, *info.aliases.all())}
        assert {normalise(a) for a in poi.aliases} <= names, f"{poi.id}: map aliases missing from the KB"


def test_sample_has_bilingual_services_and_faq(kb: KnowledgeBase) -> None:
    assert kb.park.home_poi == "kiosk"
    assert {"hotline", "wifi", "parking_fee", "first_aid"} <= set(kb.faq_by_id())
    for poi_id in ("talent_apartments", "service_centre", "ebike_charging", "parking_p1", "data_labelling_centre",
                   "clinic", "canteen"):
        info = kb.pois[poi_id]
        assert info.aliases.zh and info.aliases.en, poi_id
    assert {"食堂", "餐厅", "饭堂"} <= set(kb.pois["canteen"].aliases.zh)
    assert {"canteen", "dining hall"} <= set(kb.pois["canteen"].aliases.en)


def test_minimal_file_loads() -> None:
    kb = parse_knowledge(MINIMAL)
    assert kb.pois["kiosk"].opening_hours == "24/7"
    assert kb.pois["kiosk"].escort is True


@pytest.mark.parametrize(("patch", "where"), [
    (("    category: info\n", "    category: info\n    colour: red\n"), "pois.kiosk.colour: unknown key"),
    (("    category: info\n", "    category: info\n    opening_hours: Mx 08:00-18:00\n"),
     "pois.kiosk.opening_hours"),
    (("home_poi: kiosk", "home_poi: lobby"), "park.home_poi: 'lobby' is not a key of pois"),
    (("number: \"0832-1111111\"", "number: call us"), "hotline.number"),
    (("name: {zh: 服务台, en: Kiosk}", "name: {zh: 服务台}"), "pois.kiosk.name.en"),
])
def test_errors_name_the_key(patch: tuple[str, str], where: str) -> None:
    with pytest.raises(KnowledgeError) as info:
        parse_knowledge(MINIMAL.replace(*patch), "park.knowledge.yaml")
    message = str(info.value)
    assert "park.knowledge.yaml" in message
    assert where in message


def test_faq_must_refer_to_known_places_and_have_both_languages() -> None:
    entry = """
  - id: wifi
    questions: {zh: [有WiFi吗], en: [is there wifi]}
    answer: {zh: 有, en: there is}
    pois: [lobby]
"""
    with pytest.raises(KnowledgeError) as info:
        parse_knowledge(MINIMAL + "faq:" + entry + entry)
    assert "  - faq.0.pois.0: 'lobby' is not a key of pois\n" in str(info.value)
    assert "  - faq.1.id: duplicate id 'wifi'\n" in str(info.value)
    one_language = "faq:\n  - id: bus\n    questions: {zh: [公交]}\n    answer: {zh: 有, en: there is}\n"
    with pytest.raises(KnowledgeError, match=r"faq\.0: give at least one sample question in each of zh and en"):
        parse_knowledge(MINIMAL + one_language)


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="cannot read the file"):
        load_knowledge(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="expected a mapping"):
        load_knowledge(bad)
    bad.write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="not valid YAML"):
        load_knowledge(bad)


@pytest.mark.parametrize(("hours", "zh", "en"), [
    ("24/7", "24小时开放", "open 24 hours a day"),
    ("off", "暂不对外开放", "not open to visitors"),
    ("Mo-Fr 08:30-17:30; Sa 09:00-12:00", "周一至周五 08:30-17:30；周六 09:00-12:00",
     "Mon–Fri 08:30-17:30; Sat 09:00-12:00"),
    ("Mo-Su 06:30-09:00,11:00-13:30", "每天 06:30-09:00, 11:00-13:30", "daily 06:30-09:00, 11:00-13:30"),
    ("22:00-07:00", "每天 22:00-07:00", "daily 22:00-07:00"),
    ("Sa,Su 10:00-16:00", "周六、周日 10:00-16:00", "Sat, Sun 10:00-16:00"),
])
def test_hours_wording(hours: str, zh: str, en: str) -> None:
    assert hours_text(hours, "zh") == zh
    assert hours_text(hours, "en") == en
