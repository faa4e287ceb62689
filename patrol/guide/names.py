"""How much of a question is made of a document's names: exact, near (typos) or same-sounding.

A document (POI or FAQ entry) has names (weight 1.0: official names, aliases) and keywords
(weight 0.8). Each name found in the question claims a span of it: exactly; within a small
edit distance (rapidfuzz, Latin names of 5+ letters, Chinese of 3+ characters); or, for
Chinese, with the same pinyin (homophone typos from input methods and speech recognition,
e.g. 人材公寓 for 人才公寓). The score is the weighted share of the question's content that
non-overlapping spans cover, so "where is the canteen" scores 1 for the canteen while
"is there a pool near the canteen" does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

_CJK = re.compile(r"[\u3400-\u9fff]")
KEYWORD_WEIGHT = 0.8
HOMOPHONE_FACTOR = 0.9


def pinyin_chars(text: str) -> tuple[str, ...]:
    """One pinyin syllable per CJK character, other characters as themselves."""
    return tuple(lazy_pinyin(ch)[0] if _CJK.match(ch) else ch for ch in text)


@dataclass(frozen=True, slots=True)
class Name:
    text: str  # normalised
    weight: float
    cjk: bool
    pinyin: tuple[str, ...]
    fuzzy: bool  # typo matching allowed (long enough, no codes like "a1")

    @classmethod
    def of(cls, text: str, weight: float) -> Name:
        cjk = bool(_CJK.search(text))
        fuzzy = not any(c.isdigit() for c in text) and len(text) >= (3 if cjk else 5)
        return cls(text, weight, cjk, pinyin_chars(text) if cjk else (), fuzzy)


@dataclass(frozen=True, slots=True)
class Question:
    text: str  # normalised
    content_len: int  # characters of its content words (stop words removed)
    pinyin: tuple[str, ...]

    @classmethod
    def of(cls, text: str, content_len: int) -> Question:
        return cls(text, max(1, content_len), pinyin_chars(text))


def _find_latin(name: str, text: str) -> int:
    match = re.search(rf"(?<![a-z0-9]){re.escape(name)}s?(?![a-z0-9])", text)
    return match.start() if match else -1


def _find_sub(needle: tuple[str, ...], hay: tuple[str, ...]) -> int:
    n = len(needle)
    for i in range(len(hay) - n + 1):
        if hay[i:i + n] == needle:
            return i
    return -1


def _span(name: Name, q: Question) -> tuple[int, int, float] | None:
    """(start, end, evidence per character) where `name` occurs in the question, or None."""
    pos = q.text.find(name.text) if name.cjk else _find_latin(name.text, q.text)
    if pos >= 0:
        return pos, pos + len(name.text), name.weight
    if name.cjk and len(name.pinyin) >= 2:
        pos = _find_sub(name.pinyin, q.pinyin)
        if pos >= 0:
            return pos, pos + len(name.pinyin), name.weight * HOMOPHONE_FACTOR
    if not name.fuzzy:
        return None
    align = fuzz.partial_ratio_alignment(name.text, q.text, score_cutoff=70 if name.cjk else 84)
    if align is None:
        return None
    start, end = align.dest_start, align.dest_end
    if end - start < 2:
        return None
    evidence = name.weight * align.score / 100.0
    if len(name.text) > q.content_len:  # a partial name ("数据标注" for 数据标注中心) is weaker evidence
        evidence *= q.content_len / len(name.text)
    return start, end, evidence


def name_score(names: tuple[Name, ...], q: Question) -> float:
    """Weighted share of the question's content covered by the names (over 1 when names overlap stop words)."""
    spans = [s for s in (_span(n, q) for n in names) if s is not None]
    spans.sort(key=lambda s: -(s[1] - s[0]) * s[2])
    taken: list[tuple[int, int]] = []
    evidence = 0.0
    for start, end, per_char in spans:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        evidence += (end - start) * per_char
    return evidence / q.content_len


def similar_question(samples: tuple[str, ...], q: Question) -> float:
    """Best similarity of the question to an FAQ entry's sample questions (0..1, 0 under 75 %)."""
    best = 0.0
    for sample in samples:
        if sample and sample in q.text:
            return 1.0
        best = max(best, fuzz.token_sort_ratio(sample, q.text, score_cutoff=75) / 100.0 * 0.9)
    return best
