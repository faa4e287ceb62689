"""Text handling for the guide: normalisation, language detection, tokens and intents.

Chinese is segmented with jieba: one private `jieba.Tokenizer` per process, built on first use
from the dictionary that ships inside the jieba package (no network), with jieba's logging
silenced and any warning its import raises on some setuptools versions contained locally.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from typing import Any

from patrol.guide.knowledge import Lang

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_PUNCT = re.compile(r"[^\w\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_lock = threading.Lock()
_tokenizer: Any = None


def _jieba_tokenizer() -> Any:
    """The process's jieba tokenizer, loaded once (from jieba's own cache file when present)."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            with warnings.catch_warnings():
                # jieba imports pkg_resources where it exists, which warns on recent setuptools
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                import jieba

                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
            _tokenizer = tok
        return _tokenizer


def add_words(words: Iterable[str]) -> None:
    """Teach the segmenter multi-character names (POI names, aliases) so they stay whole."""
    tok = _jieba_tokenizer()
    with _lock:
        for word in words:
            if len(word) >= 2 and _CJK.search(word) and " " not in word:
                tok.add_word(word, freq=max(2000, tok.suggest_freq(word)))


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, punctuation to spaces, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\be-(bike|scooter|mail)", r"e\1", text)
    text = text.replace("'s ", " ").replace("’s ", " ")
    text = _PUNCT.sub(" ", text)
    return " ".join(text.split())


def detect_lang(text: str) -> Lang:
    """'zh' when Chinese characters outnumber Latin words, else 'en'."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text.casefold()))
    return "zh" if cjk and cjk >= latin else "en"


def stem(word: str) -> str:
    """A light English stemmer: plurals and a few common endings (enough for names of places)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    return word


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


EN_STOPWORDS = _word_set("""
a an the is are am was were be been do does did i me my we our you your he she it its they them this that
there here of to in on at for from by with and or but not no can could would will shall should may might
must please hi hello hey excuse sorry thanks thank ok okay um uh so just some any what which who whom how
where when why whats wheres hows s get go going got find found tell know need want like way one il im
let lets us take bring lead show guide walk direction directions route reach located location place
open opening close closing closed hour time today now tomorrow
monday tuesday wednesday thursday friday saturday sunday weekend weekday does doing nearest near nearby around
park about also still again if then than up down into out over right left have has had much many
""")

ZH_STOPWORDS = _word_set("""
请问 请 问 你好 您好 麻烦 一下 下 我 我们 你 您 他 她 它 的 地 得 了 吗 呢 吧 啊 呀 哦 嗯 哪 哪里 哪儿 那里 这里
在 是 有 有没有 没有 什么 怎么 怎么样 怎样 如何 走 去 到 想 要 想要 需要 可以 能 能不能 可不可以 帮 帮我 给
带 带我 带我去 领 领我 陪 陪我 告诉 知道 一个 个 这 那 从 往 找 位置 地方 位于 路线 路 方向 附近 最近 离 多远
几点 几时 时候 什么时候 开门 关门 营业 开放 时间 今天 现在 明天 还 也 就 都 和 与 及 或 吗 么 那个 这个 呃 额
园区 里 里面 边 旁边 中午 晚上 早上 上午 下午 周一 周二 周三 周四 周五 周六 周日 周末 星期一 星期二 星期三 星期四
星期五 星期六 星期天 星期日 工作日 节假日 一 下去 过去 过来 来 看 看看 找到 点 几 多少 号 哈 谢谢 多久 远 不远 近
""")


def tokens(text: str, *, search: bool = True) -> list[str]:
    """Index/query tokens of normalised `text`: jieba words for Chinese runs, stemmed words for Latin.

    Stop words (question words, politeness, intent verbs) are dropped, so what remains names
    the thing asked about. `search=True` also yields the sub-words of long Chinese words.
    """
    # mixed text is common ("去canteen怎么走"): each run is handled by its own script
    text = normalise(text)
    out: list[str] = []
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+", text):
        if _CJK.match(run):
            tok = _jieba_tokenizer()
            words = tok.cut_for_search(run) if search else tok.cut(run)
            out.extend(w for w in words if w not in ZH_STOPWORDS and w.strip())
        elif run not in EN_STOPWORDS:
            out.append(stem(run))
    return out


class Intent(enum.StrEnum):
    WHERE = "where"
    DIRECTIONS = "directions"
    HOURS = "hours"
    TAKE_ME = "take_me"
    FAQ = "faq"
    UNKNOWN = "unknown"


_INTENT_PATTERNS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (Intent.TAKE_ME, re.compile(
        r"带我去|带我到|领我去|领我到|陪我去|带路|领路|引路|带我过去|送我去|带我找|带我们去|领我们去|"
        r"\b(take|bring|lead|guide|escort|walk|accompany)\s+(me|us)\b|\bescort\b|\bshow me the way\b")),
    (Intent.HOURS, re.compile(
        r"几点|开门|关门|营业|开放|上班|下班|办公时间|什么时候开|什么时候关|几时|开到|开着|还开|作息|"
        r"\b(open|opens|opening|close|closes|closing|closed|hours?)\b|\bwhat time\b|\buntil when\b")),
    (Intent.DIRECTIONS, re.compile(
        r"怎么走|怎么去|怎样去|如何去|如何到|怎么到|怎么过去|路线|路怎么|走过去|往哪走|多远|离这|"
        r"\bhow (do|can|could|would|should) (i|we) (get|go|reach|find|walk)\b|\bhow to (get|go|reach|find)\b|"
        r"\b(directions?|route|way to|far)\b")),
    (Intent.WHERE, re.compile(
        r"在哪|哪里|哪儿|什么地方|在什么位置|位置|位于|找不到|有没有|哪有|"
        r"\bwhere\b|\blocation\b|\blocated\b|\bfind\b|\bis there\b|\blooking for\b|\bnearest\b")),
)


_PERSON = re.compile(r"\bwho\b|\bwhose\b|谁|叫什么名字|姓什么")


def asks_about_person(text: str) -> bool:
    """Whether the question asks who someone is (the knowledge base holds no people)."""
    return bool(_PERSON.search(normalise(text)))


def detect_intent(text: str) -> Intent | None:
    """The first matching place intent (escort before hours before directions before where), else None."""
    norm = normalise(text)
    for intent, pattern in _INTENT_PATTERNS:
        if pattern.search(norm):
            return intent
    return None
