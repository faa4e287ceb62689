"""The guide's knowledge base: what the park office wants visitors to be told, in Chinese and English.

A YAML file shipped beside the park map (``maps/parks/<park>.knowledge.yaml``). Every answer the
guide gives is built from this file and the map; nothing else. Loading validates the whole
file (unknown keys are refused) and reports every problem with its key path, e.g.
``pois.canteen.opening_hours: unknown day 'Mx'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from maps.schedule import WeeklySchedule

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class KnowledgeError(ValueError):
    """The knowledge base file is unreadable or invalid; the message lists every problem by key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {len(problems)} problem(s) in the guide knowledge base", *(f"  - {p}" for p in problems),
                 "  Fix the keys listed above (see the comment at the top of the shipped file) and load it again."]
        super().__init__("\n".join(lines))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Model):
    """A phrase in both languages."""

    zh: Phrase
    en: Phrase

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


class Words(_Model):
    """Alternative names or keywords, per language."""

    zh: list[Phrase] = Field(default_factory=list)
    en: list[Phrase] = Field(default_factory=list)

    def get(self, lang: Lang) -> list[str]:
        return self.zh if lang == "zh" else self.en

    def all(self) -> list[str]:
        return [*self.zh, *self.en]


def _check_schedule(value: str) -> str:
    WeeklySchedule.parse(value)  # raises ValueError naming the wrong part
    return " ".join(value.split())


class PoiInfo(_Model):
    """One place visitors ask for; `id` matches the POI id in the park map."""

    name: Text
    aliases: Words = Field(default_factory=Words)
    keywords: Words = Field(default_factory=Words, description="words that point here without naming it")
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    opening_hours: str = Field(default="24/7", description="OpenStreetMap opening_hours subset, as in the map")
    hours_note: Text | None = None
    description: Text
    services: list[Text] = Field(default_factory=list)
    phone: str | None = None
    escort: bool = Field(default=True, description="whether the guide robot may lead visitors there")
    visitors: bool = Field(default=True, description="whether visitors may go in at all (hours are for staff)")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        return _check_schedule(value)


class FaqEntry(_Model):
    """A question the park office answers the same way every time."""

    id: Id
    questions: Words
    keywords: Words = Field(default_factory=Words)
    answer: Text
    pois: list[Id] = Field(default_factory=list, description="places the answer refers to")

    @model_validator(mode="after")
    def _has_questions(self) -> FaqEntry:
        if not self.questions.zh or not self.questions.en:
            raise ValueError("give at least one sample question in each of zh and en")
        return self


class Hotline(_Model):
    number: Annotated[str, StringConstraints(pattern=r"^[0-9+\-() ]{3,32}$")]
    name: Text


class ParkInfo(_Model):
    name: Text
    home_poi: Id = Field(description="where the guide robot (and its kiosk) stands")


class KnowledgeBase(_Model):
    """The whole file."""

    version: Literal[1]
    park: ParkInfo
    hotline: Hotline
    pois: dict[Id, PoiInfo]
    faq: list[FaqEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> KnowledgeBase:
        problems: list[str] = []
        if self.park.home_poi not in self.pois:
            problems.append(f"park.home_poi: {self.park.home_poi!r} is not a key of pois")
        seen: set[str] = set()
        for i, entry in enumerate(self.faq):
            if entry.id in seen:
                problems.append(f"faq.{i}.id: duplicate id {entry.id!r}")
            seen.add(entry.id)
            for j, poi in enumerate(entry.pois):
                if poi not in self.pois:
                    problems.append(f"faq.{i}.pois.{j}: {poi!r} is not a key of pois")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def faq_by_id(self) -> Mapping[str, FaqEntry]:
        return {entry.id: entry for entry in self.faq}


def _format_errors(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        where = ".".join(str(part) for part in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling or remove it)"
        if where:
            problems.append(f"{where}: {msg}")
        else:  # whole-file checks already say which key, one problem per "; "
            problems.extend(msg.split("; "))
    return problems


def parse_knowledge(text: str, source: str = "<knowledge>") -> KnowledgeBase:
    """Parse and validate YAML text; raises KnowledgeError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise KnowledgeError(source, [f"not valid YAML: {e}"]) from e
    if not isinstance(data, dict):
        raise KnowledgeError(source, ["(top level): expected a mapping with keys version, park, hotline, pois, faq"])
    try:
        return KnowledgeBase.model_validate(data)
    except ValidationError as e:
        raise KnowledgeError(source, _format_errors(e)) from e


def load_knowledge(path: str | Path) -> KnowledgeBase:
    """Load a knowledge base file; raises KnowledgeError (file, key and reason) when it is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise KnowledgeError(str(p), [f"cannot read the file: {e.strerror or e}"]) from e
    return parse_knowledge(text, str(p))


def knowledge_path_for(park_path: str | Path) -> Path:
    """Where a park's knowledge base lives: ``<park>.knowledge.yaml`` beside ``<park>.geojson``."""
    park = Path(park_path)
    return park.with_name(park.name.removesuffix(".geojson") + ".knowledge.yaml")


def sample_knowledge_path() -> Path:
    """The knowledge base shipped with the sample park (beside ``maps.sample_park_path()``)."""
    from maps import sample_park_path

    return knowledge_path_for(sample_park_path())


_DAY_NAMES: dict[str, tuple[str, str]] = {
    "Mo": ("周一", "Mon"), "Tu": ("周二", "Tue"), "We": ("周三", "Wed"), "Th": ("周四", "Thu"),
    "Fr": ("周五", "Fri"), "Sa": ("周六", "Sat"), "Su": ("周日", "Sun"),
}


def _days_text(days: str, lang: Lang) -> str:
    parts = []
    for part in days.split(","):
        first, sep, last = part.strip().partition("-")
        zh_en = 0 if lang == "zh" else 1
        if sep:
            if (first, last) == ("Mo", "Su"):
                parts.append("每天" if lang == "zh" else "daily")
            else:
                joiner = "至" if lang == "zh" else "–"
                parts.append(_DAY_NAMES[first][zh_en] + joiner + _DAY_NAMES[last][zh_en])
        else:
            parts.append(_DAY_NAMES[first][zh_en])
    return ("、" if lang == "zh" else ", ").join(parts)


def hours_text(opening_hours: str, lang: Lang) -> str:
    """Human wording of an opening_hours string (validated with WeeklySchedule first)."""
    schedule = WeeklySchedule.parse(opening_hours)
    if schedule.always:
        return "24小时开放" if lang == "zh" else "open 24 hours a day"
    if not schedule.intervals:
        return "暂不对外开放" if lang == "zh" else "not open to visitors"
    rules = []
    for rule in schedule.text.split(";"):
        rule = rule.strip()
        if not rule:
            continue
        head, _, rest = rule.partition(" ")
        if head[:1].isdigit():
            days, times = ("每天" if lang == "zh" else "daily"), rule
        else:
            days, times = _days_text(head, lang), rest.strip()
        if times == "off":
            rules.append(f"{days}休息" if lang == "zh" else f"{days} closed")
        else:
            rules.append(f"{days} {times.replace(',', ', ')}")
    return ("；" if lang == "zh" else "; ").join(rules)
