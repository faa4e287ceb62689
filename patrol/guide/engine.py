"""Question answering for visitors: retrieval over the knowledge base, answers built only from it.

Every POI and FAQ entry becomes a document. A question is scored against each document by
two signals, both in [0, 1]:

- *name match*: the question contains one of the document's names/aliases/sample questions,
  exactly or nearly (rapidfuzz, for typos and partial names);
- *coverage*: the IDF-weighted share of the question's content words (after stop words and
  typo correction against the vocabulary) that the document contains; BM25 (rank-bm25)
  breaks ties between documents that cover equally.

The best document's combined score is the confidence. Below the threshold the guide says it
does not know and gives the 24-hour hotline; it never guesses.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from rank_bm25 import BM25Okapi
from rapidfuzz import fuzz, process

from patrol.guide.knowledge import FaqEntry, KnowledgeBase, Lang, PoiInfo, hours_text
from patrol.guide.names import KEYWORD_WEIGHT, Name, Question, name_score, similar_question
from patrol.guide.routes import GuideRoute, ParkRoutes, PlaceError
from patrol.guide.text import Intent, add_words, asks_about_person, detect_intent, detect_lang, normalise, tokens

DEFAULT_THRESHOLD = 0.5
NAME_WEIGHT = 0.55
PLACE_INTENT_BONUS = 0.08
AMBIGUITY_MARGIN = 0.03
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class _Doc:
    kind: Literal["poi", "faq"]
    id: str
    names: tuple[Name, ...]  # names/aliases (1.0) and keywords (0.8), normalised
    samples: tuple[str, ...]  # FAQ sample questions, normalised
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class Match:
    """A scored document: `kind` 'poi' or 'faq', its id, and the score parts."""

    kind: str
    id: str
    score: float
    name: float
    coverage: float


@dataclass(frozen=True)
class Answer:
    """What the guide says, and why."""

    text: str
    lang: Lang
    intent: Intent
    confidence: float
    pois: tuple[str, ...] = ()
    faq: str | None = None
    route: GuideRoute | None = None
    origin: str | None = None
    candidates: tuple[Match, ...] = field(default=(), repr=False)

    @property
    def known(self) -> bool:
        return self.intent is not Intent.UNKNOWN


def _names(names: list[str], keywords: list[str]) -> tuple[Name, ...]:
    found: dict[str, Name] = {}
    for text in names:
        if (norm := normalise(text)) and norm not in found:
            found[norm] = Name.of(norm, 1.0)
    for text in keywords:
        if (norm := normalise(text)) and norm not in found:
            found[norm] = Name.of(norm, KEYWORD_WEIGHT)
    return tuple(found.values())


class GuideEngine:
    """Answers visitors' questions from one knowledge base (and, for routes, the park map)."""

    def __init__(self, kb: KnowledgeBase, routes: ParkRoutes | None = None, *,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.kb = kb
        self.routes = routes
        self.threshold = threshold
        add_words(w for poi in kb.pois.values() for w in (poi.name.zh, *poi.aliases.zh, *poi.keywords.zh))
        add_words(w for entry in kb.faq for w in entry.keywords.zh)
        self._docs: list[_Doc] = []
        corpus: list[list[str]] = []
        for poi_id, poi in kb.pois.items():
            bag = self._poi_bag(poi_id, poi)
            corpus.append(bag)
            names = _names([poi.name.zh, poi.name.en, *poi.aliases.all()], poi.keywords.all())
            self._docs.append(_Doc("poi", poi_id, names, (), frozenset(bag)))
        for entry in kb.faq:
            bag = self._faq_bag(entry)
            corpus.append(bag)
            samples = tuple(normalise(q) for q in entry.questions.all())
            self._docs.append(_Doc("faq", entry.id, _names([], entry.keywords.all()), samples, frozenset(bag)))
        self._bm25 = BM25Okapi(corpus)
        df: Counter[str] = Counter()
        for bag in corpus:
            df.update(set(bag))
        n = len(corpus)
        self._weight = {t: math.log(1.0 + n / c) for t, c in df.items()}
        self._oov_weight = math.log(1.0 + n)
        self._latin_vocab = sorted(t for t in df if not _CJK.search(t) and len(t) >= 3)
        self._cjk_vocab = sorted(t for t in df if _CJK.search(t) and len(t) >= 2)

    @staticmethod
    def _poi_bag(poi_id: str, poi: PoiInfo) -> list[str]:
        bag: list[str] = []
        for name in (poi.name.zh, poi.name.en, *poi.aliases.all(), poi_id.replace("_", " ")):
            bag += tokens(name) * 3
        for word in poi.keywords.all():
            bag += tokens(word) * 2
        bag += tokens(poi.description.zh) + tokens(poi.description.en)
        for service in poi.services:
            bag += tokens(service.zh) + tokens(service.en)
        return bag

    @staticmethod
    def _faq_bag(entry: FaqEntry) -> list[str]:
        bag: list[str] = []
        for question in entry.questions.all():
            bag += tokens(question)
        for word in entry.keywords.all():
            bag += tokens(word) * 2
        return bag

    # -- retrieval -------------------------------------------------------------------------

    def _correct(self, token: str) -> str:
        """Replace an out-of-vocabulary word by its nearest vocabulary word when that is close."""
        if token in self._weight:
            return token
        if _CJK.search(token):
            if len(token) < 2:
                return token
            hit = process.extractOne(token, self._cjk_vocab, scorer=fuzz.ratio, score_cutoff=74)
        else:
            if len(token) < 4:
                return token
            hit = process.extractOne(token, self._latin_vocab, scorer=fuzz.ratio, score_cutoff=80)
        return str(hit[0]) if hit is not None else token

    def rank(self, text: str) -> tuple[list[Match], list[str]]:
        """All documents scored for `text`, best first, and the corrected content words."""
        question = normalise(text)
        words = [self._correct(t) for t in tokens(question)]
        content = tokens(question, search=False)
        latin = sum(1 for t in content if not _CJK.search(t))
        q = Question.of(question, sum(len(t) for t in content) + max(0, latin - 1) or len(question))
        place_intent = detect_intent(text) in {Intent.WHERE, Intent.DIRECTIONS, Intent.TAKE_ME, Intent.HOURS}
        total = sum(self._weight.get(t, self._oov_weight) for t in words)
        bm25 = self._bm25.get_scores(words) if words else [0.0] * len(self._docs)
        scored: list[tuple[float, float, float, Match]] = []
        for doc, raw in zip(self._docs, bm25, strict=True):
            covered = sum(self._weight.get(t, self._oov_weight) for t in words if t in doc.words)
            coverage = covered / total if total > 0 else 0.0
            evidence = max(name_score(doc.names, q), similar_question(doc.samples, q))
            name = min(1.0, evidence)
            score = NAME_WEIGHT * name + (1.0 - NAME_WEIGHT) * coverage
            if doc.kind == "poi" and place_intent and score > 0:
                score += PLACE_INTENT_BONUS
            match = Match(doc.kind, doc.id, round(min(float(score), 1.0), 4), round(name, 4), round(coverage, 4))
            scored.append((match.score, evidence, float(raw), match))
        scored.sort(key=lambda s: (-s[0], -s[1], -s[2]))  # ties: more of the question named, then BM25
        matches = [s[3] for s in scored]
        return matches, words

    # -- answers ---------------------------------------------------------------------------

    def ask(self, text: str, lang: Lang | None = None, origin: str | None = None,
            now: datetime | None = None) -> Answer:
        """Answer `text` in `lang` (detected when None); routes start at `origin` (default: the kiosk).

        Raises PlaceError when `origin` is given but is not a place in the park.
        """
        lang = lang or detect_lang(text)
        start = origin or self.kb.park.home_poi
        if self.routes is not None and origin is not None:
            self.routes.waypoint(origin)  # validate early: a wrong origin is the caller's error
        matches, _ = self.rank(text)
        best = matches[0] if matches else None
        if best is None or best.score < self.threshold:
            return self._unknown(lang, best.score if best else 0.0, tuple(matches[:3]))
        close = tuple(m for m in matches[:5] if m.score >= max(self.threshold, best.score - AMBIGUITY_MARGIN))
        if len(close) > 1 and best.name < 0.5:
            return self._unknown(lang, best.score, close, ambiguous=True)  # "中心在哪": which centre?
        if best.kind == "poi" and asks_about_person(text):
            return self._unknown(lang, best.score, tuple(matches[:3]))  # places cannot answer "who"
        if best.kind == "faq":
            entry = self.kb.faq_by_id()[best.id]
            return Answer(entry.answer.get(lang), lang, Intent.FAQ, best.score, tuple(entry.pois), entry.id,
                          candidates=close)
        intent = detect_intent(text) or Intent.WHERE
        if intent is Intent.HOURS:
            body = self._hours_answer(best.id, lang, now)
            route = None
        else:
            route = self._route(start, best.id)
            body = self._place_answer(best.id, intent, lang, start, route)
        pois = tuple(dict.fromkeys(m.id for m in close if m.kind == "poi"))
        return Answer(body, lang, intent, best.score, pois or (best.id,), None, route, start, close)

    def _unknown(self, lang: Lang, confidence: float, candidates: tuple[Match, ...], *,
                 ambiguous: bool = False) -> Answer:
        number = self.kb.hotline.number
        options = [self._label(m, lang) for m in candidates] if ambiguous else []
        if lang == "zh":
            head = f"抱歉，我不确定您指的是{'、'.join(options)}中的哪一个，请说出完整名称。" if options else \
                "抱歉，这个问题我还回答不了。"
            text = f"{head}您也可以拨打{self.kb.hotline.name.zh} {number}，工作人员会帮助您。"
        else:
            head = (f"Sorry, I am not sure which one you mean: {', '.join(options)}. Please ask with the full name."
                    if options else "Sorry, I don't know the answer to that.")
            text = f"{head} You can also call the {self.kb.hotline.name.en} on {number}; the staff will help you."
        pois = tuple(m.id for m in candidates if m.kind == "poi") if ambiguous else ()
        return Answer(text, lang, Intent.UNKNOWN, confidence, pois, candidates=candidates)

    def _label(self, match: Match, lang: Lang) -> str:
        if match.kind == "poi":
            return self.name(match.id, lang)
        entry = self.kb.faq_by_id()[match.id]
        return entry.questions.get(lang)[0]

    def _route(self, start: str, poi_id: str) -> GuideRoute | None:
        if self.routes is None or poi_id not in self.routes.park.pois or start == poi_id:
            return None
        try:
            return self.routes.route(start, poi_id)
        except PlaceError:
            return None

    def name(self, poi_id: str, lang: Lang) -> str:
        info = self.kb.pois.get(poi_id)
        return info.name.get(lang) if info is not None else poi_id

    def _hours_answer(self, poi_id: str, lang: Lang, now: datetime | None) -> str:
        poi = self.kb.pois[poi_id]
        zh = lang == "zh"
        note = poi.hours_note.get(lang) if poi.hours_note else ""
        if not poi.visitors:
            head = f"{poi.name.zh}不对访客开放。" if zh else f"The {poi.name.en} is not open to visitors."
            return f"{head}{note}" if zh else f"{head} {note}".strip()
        hours = hours_text(poi.opening_hours, lang)
        status = ""
        if now is not None and self.routes is not None and poi_id in self.routes.park.pois:
            is_open = self.routes.park.pois[poi_id].is_open_at(now)
            if zh:
                status = "现在正在开放。" if is_open else "现在不在开放时间。"
            else:
                status = "It is open now." if is_open else "It is closed now."
        if zh:
            return f"{poi.name.zh}的开放时间：{hours}。{note}{status}"
        return " ".join(p for p in (f"{poi.name.en} opening hours: {hours}.", note, status) if p)

    def _origin_name(self, start: str, lang: Lang) -> str:
        if start in self.kb.pois:
            return self.name(start, lang) if lang == "zh" else f"the {self.name(start, lang)}"
        return "您所在的位置" if lang == "zh" else "where you are"

    def _place_answer(self, poi_id: str, intent: Intent, lang: Lang, start: str, route: GuideRoute | None) -> str:
        poi = self.kb.pois[poi_id]
        zh = lang == "zh"
        parts = [f"{poi.name.zh}：{poi.description.zh}。" if zh else f"{poi.name.en}: {poi.description.en}."]
        if self.routes is not None and poi_id in self.routes.park.pois:
            if start == poi_id:
                parts.append("您就在这里。" if zh else "You are right here.")
            elif route is not None:
                direction = self.routes.direction(start, poi_id, lang)
                origin = self._origin_name(start, lang)
                landmark = self.routes.nearest_other_poi(poi_id, frozenset({start}))
                near = ""
                if landmark is not None:
                    near = f"，靠近{self.name(landmark, 'zh')}" if zh else f", near the {self.name(landmark, 'en')}"
                if zh:
                    parts.append(f"它在{origin}的{direction}方向{near}。步行路线约{route.metres:.0f}米，"
                                 f"大约{route.minutes}分钟。")
                else:
                    parts.append(f"It is {direction} of {origin}{near}. The walk is about {route.metres:.0f} m, "
                                 f"around {route.minutes} min.")
        if not poi.visitors:
            parts.append("这里不对访客开放。" if zh else "It is not open to visitors.")
        elif intent is Intent.TAKE_ME and poi.escort:
            parts.append("按“带我去”，导览机器人会带您过去。" if zh else
                         "Press “Take me there” and the guide robot will walk you there.")
        elif intent is Intent.TAKE_ME:
            parts.append("导览机器人不能带您去那里。" if zh else "The guide robot cannot take you there.")
        elif intent is Intent.DIRECTIONS:
            parts.append("请按地图上的路线前往。" if zh else "Follow the route shown on the map.")
        return ("" if zh else " ").join(p.strip() for p in parts)
