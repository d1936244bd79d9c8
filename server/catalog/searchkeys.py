"""Search keys for titles: pure functions, no I/O.

The index structure
-------------------
Every title carries ``search_keys``, an array of short strings, with one
(multikey) index on it. A query is turned into a *handful* of keys, looked up
with one ``{search_keys: {$in: [...]}}`` query, and the candidates are then
verified and ranked in Python against the normalised strings kept in
``search`` (see ``search_fields``). Keys only narrow; the verification decides.

Why this shape: MongoDB ``$text`` is not available on SecantusDB (our dev and
test server) and does not tokenise Chinese anyway; a ``$regex`` on the title
scans every document. SecantusDB serves an equality or ``$in`` on a multikey
index from the index, but not ``$all`` nor a top-level ``$or`` (those scan the
collection), so each interpretation of a query maps to keys whose postings are
already small, and the interpretations are unioned with ``$in``.

Keys (prefix → meaning; "norm" = NFKC, lower case, letters/digits/汉字 only):

========  =====================================================  ===========
prefix    what                                                   per title
========  =====================================================  ===========
``^``     first character of the norm title (1-character query)  1
``~``     every 2- and 3-character run of the norm title          ≈ 2n
``@^``    first character of the norm author (surname)            1
``@``     every 2-character run of the norm author               ≈ m
``p^``    first pinyin syllable of the title                     1
``p2:``   two consecutive syllables of the title ("xi|you")      n-1
``p3:``   three consecutive syllables ("xi|you|ji")              n-2
``ap^``   first syllable of the author                           1
``ap2:``  two consecutive syllables of the author                m-1
``i^``    the first two pinyin initials of the title ("xy")      1
``i3:``   every run of three initials ("xyj")                    n-2
``ai^``   the first 2 and 3 initials of the author               ≤ 2
``#``     last four digits of the ISBN-13 / internal id          1
========  =====================================================  ===========

A 12-character title by a 3-character author has about 63 keys (the synthetic
100,000-title catalog averages about 33). A query of two or more 汉字 maps to
one ``~`` key (its own 2-gram, or its least common 3-gram) and one ``@`` key;
full pinyin is segmented into syllables ("xiyouji" → xi|you|ji; spaces and
apostrophes are honoured as boundaries; the last syllable may be unfinished)
and maps to the ``p3:`` key of its first three syllables, or the ``p2:`` key
of two (an unfinished last syllable expands to every syllable it can become),
or to ``p^`` for a single syllable; letters are also tried as initials (``i3:`` anywhere in the title,
``i^`` for two letters, which match only at the title's start) and as Latin
text in the title; four or more digits map to ``#`` (ISBN or its last digits).

Ranking (``rank``): exact title > title prefix > title anywhere > author
exact/prefix > author anywhere; ties by shorter title, then title, then id.
Limits: one 汉字 matches only titles (or authors) *starting* with it, and one
letter matches nothing; a title's pinyin is its default reading (pypinyin's
phrase-aware choice), so a polyphone read the other way is not found by pinyin.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pypinyin import lazy_pinyin
from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

# Query interpretations that can fan out (pinyin segmentations) are capped: a
# pathological string like "xianxianxian" has many readings and we want few keys.
MAX_SEGMENTATIONS = 8
MAX_QUERY_CHARS = 60
# Common in titles, so a 3-gram made of them is a poor key (chosen against).
_COMMON = set("的之与和及中国人大学小新生活技术实用手册指南读本故事集全书文化农业养殖种植村民知识科学百科")
# Interjections written as bare consonants (嗯 n, 呣 m, 哼 hng …) would split
# ordinary pinyin into nonsense readings ("xian" → xia|n).
_CONSONANT_ONLY = frozenset({"n", "m", "ng", "hm", "hng"})


@functools.cache
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows (ü written v: lv, nve)."""
    found = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = to_normal(reading)
            if plain.isascii() and plain.isalpha():
                found.add(plain)
    return frozenset(found - _CONSONANT_ONLY)


@functools.cache
def _syllable_prefixes() -> dict[str, tuple[str, ...]]:
    by_prefix: dict[str, list[str]] = {}
    for syl in syllables():
        for i in range(1, len(syl) + 1):
            by_prefix.setdefault(syl[:i], []).append(syl)
    return {k: tuple(sorted(v)) for k, v in by_prefix.items()}


def normalize(text: str | None) -> str:
    """NFKC, lower case, keep only letters, digits and 汉字 (punctuation and spaces go)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def units(norm: str) -> list[str]:
    """Pinyin syllables of a normalised string: one per 汉字 (phrase-aware readings), one
    per run of other letters/digits (kept as written, e.g. "python", "2")."""
    if not norm:
        return []
    out: list[str] = []
    for item in lazy_pinyin(norm, v_to_u=False, neutral_tone_with_five=False):
        if not item:
            continue
        if any(_is_han(c) for c in item):  # pypinyin had no reading: keep the character
            out.extend(item)
        else:
            out.append(item)
    return out


@dataclass(frozen=True)
class SearchFields:
    """What verification needs, stored on the title as ``search``."""

    t: str  # norm title
    a: str  # norm author
    tp: str  # title pinyin as "|xi|you|ji|"
    ti: str  # title initials "xyj"
    ap: str  # author pinyin
    ai: str  # author initials
    n: int  # len(t), the ranking's tie-breaker and the candidate sort key

    def as_doc(self) -> dict[str, Any]:
        return {"t": self.t, "a": self.a, "tp": self.tp, "ti": self.ti, "ap": self.ap, "ai": self.ai, "n": self.n}


def search_fields(title: str, author: str | None) -> SearchFields:
    t, a = normalize(title), normalize(author)
    tu, au = units(t), units(a)
    return SearchFields(
        t=t, a=a,
        tp="|" + "|".join(tu) + "|" if tu else "",
        ti="".join(u[0] for u in tu),
        ap="|" + "|".join(au) + "|" if au else "",
        ai="".join(u[0] for u in au),
        n=len(t),
    )


def _grams(text: str, n: int) -> Iterable[str]:
    return (text[i : i + n] for i in range(len(text) - n + 1))


def _pinyin_keys(prefix: str, syls: list[str], *, triples: bool) -> list[str]:
    keys = [f"{prefix}^{syls[0]}"] if syls else []
    keys += (f"{prefix}2:{a}|{b}" for a, b in itertools.pairwise(syls))
    if triples:
        keys += (f"{prefix}3:{a}|{b}|{c}" for a, b, c in zip(syls, syls[1:], syls[2:], strict=False))
    return keys


def search_keys(fields: SearchFields, title_id: str) -> list[str]:
    """The ``search_keys`` array of a title (deduplicated, order irrelevant)."""
    keys: list[str] = []
    t, a = fields.t, fields.a
    if t:
        keys.append("^" + t[0])
        keys += ("~" + g for g in _grams(t, 2))
        keys += ("~" + g for g in _grams(t, 3))
    if a:
        keys.append("@^" + a[0])
        keys += ("@" + g for g in _grams(a, 2))
    keys += _pinyin_keys("p", fields.tp.strip("|").split("|") if fields.tp else [], triples=True)
    keys += _pinyin_keys("ap", fields.ap.strip("|").split("|") if fields.ap else [], triples=False)
    if len(fields.ti) >= 2:
        keys.append("i^" + fields.ti[:2])
    keys += ("i3:" + g for g in _grams(fields.ti, 3))
    keys += ("ai^" + fields.ai[:k] for k in (2, 3) if len(fields.ai) >= k)
    digits = re.sub(r"\D", "", title_id)
    if len(digits) >= 4:
        keys.append("#" + digits[-4:])
    return list(dict.fromkeys(keys))


# -- queries ---------------------------------------------------------------


def segmentations(query: str) -> list[list[str]]:
    """Ways to read letters as pinyin syllables; spaces/apostrophes are fixed boundaries and
    only the very last syllable may be unfinished ("xiyouj" → [xi, you, j]).

    At most MAX_SEGMENTATIONS, preferring fewer (longer) syllables.
    """
    chunks = [c for c in re.split(r"[\s'’]+", query.lower()) if c]
    if not chunks or not all(c.isascii() and c.isalpha() for c in chunks):
        return []
    sylls, prefixes = syllables(), _syllable_prefixes()

    def split(chunk: str, last: bool) -> list[list[str]]:
        @functools.cache
        def from_(i: int) -> list[tuple[str, ...]]:
            if i == len(chunk):
                return [()]
            found: list[tuple[str, ...]] = []
            for j in range(min(len(chunk), i + 6), i, -1):
                piece = chunk[i:j]
                if piece in sylls:
                    found += [(piece, *rest) for rest in from_(j)]
                elif last and j == len(chunk) and piece in prefixes:
                    found.append((piece,))
                if len(found) > MAX_SEGMENTATIONS * 4:
                    break
            return found

        return [list(s) for s in from_(0)]

    readings: list[list[str]] = [[]]
    for n, chunk in enumerate(chunks):
        options = split(chunk, last=n == len(chunks) - 1)
        readings = [r + o for r in readings for o in options][: MAX_SEGMENTATIONS * 4]
        if not readings:
            return []
    readings.sort(key=len)
    return readings[:MAX_SEGMENTATIONS]


@dataclass
class QueryPlan:
    """A query's keys (for one ``$in``) and what verification compares against."""

    raw: str
    norm: str
    keys: list[str] = field(default_factory=list)
    text: bool = False  # match norm as a run of characters in title/author
    readings: list[str] = field(default_factory=list)  # pinyin needles "|xi|you|ji"
    initials: bool = False
    code: str | None = None  # a full ISBN-13 or internal id to match exactly
    digits: str | None = None  # an ISBN/id suffix to match

    @property
    def empty(self) -> bool:
        return not self.keys


def _best_trigram(norm: str) -> str:
    return min(_grams(norm, 3), key=lambda g: sum(c in _COMMON for c in g))


def plan_query(raw: str, *, code: str | None = None) -> QueryPlan:
    """Interpret what someone typed. ``code`` is the ISBN-13 or internal id ``raw``
    denotes, if it is one (the caller validates ISBNs; this module does not)."""
    raw = raw.strip()[:MAX_QUERY_CHARS]
    norm = normalize(raw)
    plan = QueryPlan(raw=raw, norm=norm)
    if not norm:
        return plan
    keys: list[str] = []
    if len(norm) == 1:
        if not norm.isascii():
            plan.text = True
            keys += ["^" + norm, "@^" + norm]
    else:
        plan.text = True
        keys.append("~" + (norm if len(norm) == 2 else _best_trigram(norm)))
        keys.append("@" + norm[:2])
    if norm.isascii() and norm.isalpha() and len(norm) >= 2:
        prefixes = _syllable_prefixes()
        for reading in segmentations(raw):
            plan.readings.append("|" + "|".join(reading))
            if len(reading) >= 3:  # three syllables: the title's far more selective triple key
                options = (reading[2],) if len(reading) > 3 else prefixes.get(reading[2], ())
                keys += (f"p3:{reading[0]}|{reading[1]}|{s}" for s in options)
            for who in ("ap",) if len(reading) >= 3 else ("p", "ap"):
                if len(reading) >= 2:
                    # the second syllable may be unfinished: every syllable it can become
                    options = (reading[1],) if len(reading) > 2 else prefixes.get(reading[1], ())
                    keys += (f"{who}2:{reading[0]}|{s}" for s in options)
                elif reading[0] in syllables():  # one whole syllable: titles starting with it
                    keys += (f"{who}^{s}" for s in prefixes.get(reading[0], ()))
        plan.initials = len(norm) <= 12
        if plan.initials:
            keys.append("i^" + norm if len(norm) == 2 else "i3:" + norm[:3])
            keys.append("ai^" + norm[:3])
    if re.fullmatch(r"[0-9]{4,}x?|sw[0-9]{4,}", norm):
        plan.digits = re.sub(r"\D", "", norm)
        keys.append("#" + plan.digits[-4:])
    if code:
        plan.code = code
        keys.append("#" + re.sub(r"\D", "", code)[-4:])
    plan.keys = list(dict.fromkeys(keys))
    return plan


# Match tiers, best first.
CODE, EXACT, PREFIX, ANYWHERE, AUTHOR, AUTHOR_ANYWHERE = range(6)
TIER_NAMES = ("code", "exact", "prefix", "anywhere", "author", "author_anywhere")


def _tier_in(hay: str, needle: str, *, exact: bool, exact_tier: int, prefix_tier: int, any_tier: int) -> int | None:
    pos = hay.find(needle)
    if pos < 0:
        return None
    if exact:
        return exact_tier
    return prefix_tier if pos == 0 else any_tier


def match_tier(plan: QueryPlan, title_id: str, fields: dict[str, Any]) -> int | None:
    """How well a candidate matches (lower is better), or None if it does not."""
    if plan.code and title_id == plan.code:
        return CODE
    found: list[int | None] = []
    t, a = str(fields.get("t", "")), str(fields.get("a", ""))
    tp, ti = str(fields.get("tp", "")), str(fields.get("ti", ""))
    ap, ai = str(fields.get("ap", "")), str(fields.get("ai", ""))
    q = plan.norm
    if plan.digits and re.sub(r"\D", "", title_id).endswith(plan.digits):
        found.append(PREFIX)
    if plan.text:
        if len(q) == 1:
            found.append(PREFIX if t.startswith(q) else None)
            found.append(AUTHOR if a.startswith(q) else None)
        else:
            found.append(_tier_in(t, q, exact=t == q, exact_tier=EXACT, prefix_tier=PREFIX, any_tier=ANYWHERE))
            found.append(_tier_in(a, q, exact=a == q, exact_tier=AUTHOR, prefix_tier=AUTHOR,
                                  any_tier=AUTHOR_ANYWHERE))
    for needle in plan.readings:
        found.append(_tier_in(tp, needle, exact=tp == needle + "|", exact_tier=EXACT, prefix_tier=PREFIX,
                              any_tier=ANYWHERE))
        found.append(_tier_in(ap, needle, exact=ap == needle + "|", exact_tier=AUTHOR, prefix_tier=AUTHOR,
                              any_tier=AUTHOR_ANYWHERE))
    if plan.initials:
        found.append(_tier_in(ti, q, exact=ti == q, exact_tier=EXACT, prefix_tier=PREFIX, any_tier=ANYWHERE))
        found.append(AUTHOR if ai.startswith(q) else None)
    tiers = [f for f in found if f is not None]
    return min(tiers) if tiers else None


def rank(plan: QueryPlan, candidates: Iterable[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Verified candidates, best first, with their tier. Each candidate has ``_id``, ``title``
    and ``search`` (the stored SearchFields)."""
    hits = []
    for doc in candidates:
        fields = doc.get("search") or {}
        tier = match_tier(plan, str(doc["_id"]), fields)
        if tier is not None:
            hits.append((tier, doc))
    hits.sort(key=lambda h: (h[0], (h[1].get("search") or {}).get("n", 0), str(h[1].get("title", "")),
                             str(h[1]["_id"])))
    return hits
