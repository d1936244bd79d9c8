"""The contest's rules as plain data and pure functions: categories, groups, the essay
limits, who fits which group, award quotas, the ranking and the award labels.

Nothing here does I/O; ``service`` and ``judging`` feed it documents' fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Literal

Category = Literal["征文", "绘画", "手抄报", "硬笔书法", "软笔书法"]
Group = Literal["小学组", "中学组"]
ContestStatus = Literal["draft", "open", "judging", "awarded", "reported"]
EntryStatus = Literal["in_review", "submitted", "rejected"]
Award = Literal["first", "second", "third", "excellent", "none"]

CATEGORIES: tuple[str, ...] = ("征文", "绘画", "手抄报", "硬笔书法", "软笔书法")
ESSAY = "征文"
# Every category but the essay is a picture on paper (A3), sent as a photo or scan.
IMAGE_CATEGORIES: frozenset[str] = frozenset(CATEGORIES) - {ESSAY}
GROUPS: tuple[str, ...] = ("小学组", "中学组")

# Essays: at most this many characters, whitespace not counted.
ESSAY_LIMITS: dict[str, int] = {"小学组": 800, "中学组": 1500}

# Who fits a group, by the age a pupil reaches in the contest's year (contest year minus
# birth year; only the year is always known). A primary pupil in the school year that ends
# in the contest's summer was born from September of (year − 13) to August of (year − 7), so
# reaches 7–13; a rising first-grader (6) may take part too. Secondary pupils (初中 and 高中)
# reach 13–19. The ranges overlap at 12–13 on purpose: around the end of primary school the
# pupil's actual school decides, and the family chooses.
GROUP_AGES: dict[str, tuple[int, int]] = {"小学组": (6, 13), "中学组": (12, 19)}

AWARD_ORDER: tuple[str, ...] = ("first", "second", "third", "excellent")
AWARD_LABELS: dict[str, str] = {"first": "一等奖", "second": "二等奖", "third": "三等奖", "excellent": "优秀奖",
                                "none": "未获奖"}
DEFAULT_QUOTA: dict[str, int] = {"first": 1, "second": 2, "third": 3, "excellent": 0}

STATUS_LABELS: dict[str, str] = {"draft": "筹备中", "open": "征集中", "judging": "评审中", "awarded": "已评奖",
                                 "reported": "已上报"}
ENTRY_STATUS_LABELS: dict[str, str] = {"in_review": "审核中", "submitted": "已提交", "rejected": "未通过审核"}
# Status changes staff make with PATCH. "awarded" is reached only by computing the awards.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"open"}),
    "open": frozenset({"judging"}),
    "judging": frozenset(),
    "awarded": frozenset({"reported"}),
    "reported": frozenset(),
}
# Once the results exist, nothing that decided them may change.
SETTLED: frozenset[str] = frozenset({"awarded", "reported"})


def essay_length(text: str) -> int:
    """Characters of an essay as counted against the limit: whitespace (spaces, full-width
    spaces, line breaks) is not counted."""
    return sum(1 for ch in text if not ch.isspace())


def age_in_year(birth_year: int, year: int) -> int:
    return year - birth_year


def group_fits(group: str, birth_year: int, year: int) -> bool:
    low, high = GROUP_AGES[group]
    return low <= age_in_year(birth_year, year) <= high


def accepting_entries(status: str, opens_on: date, closes_on: date, today: date) -> bool:
    """Entries are taken while the edition is open and today (Asia/Shanghai) is within its dates."""
    return status == "open" and opens_on <= today <= closes_on


def full_quotas(given: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """The quota of every category and group: what was given, the default elsewhere."""
    given = given or {}
    return {c: {g: {**DEFAULT_QUOTA, **dict((given.get(c) or {}).get(g) or {})} for g in GROUPS} for c in CATEGORIES}


def award_label(award: str | None) -> str:
    return AWARD_LABELS.get(award or "none", AWARD_LABELS["none"])


def next_step(award: str | None, recommended: bool) -> str:
    """What happens next, as the result message says it (a ``thing``: at most 20 characters)."""
    if recommended:
        return "作品已推荐参加上一级评选"
    if award and award != "none":
        return "可在小程序中下载获奖证书"
    return "感谢参与，欢迎明年再来"


# -- ranking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """An entry that takes part in the ranking, with the scores its judges gave."""

    entry_id: str
    category: str
    group: str
    submitted_at: datetime
    scores: tuple[int, ...]


@dataclass(frozen=True)
class Placing:
    entry_id: str
    category: str
    group: str
    rank: int | None  # None: no judge scored it, so it is not ranked
    mean: float | None
    count: int
    award: str
    recommended: bool


def _key(entry: Scored) -> tuple[Fraction, int, datetime, str]:
    # Exact means: 87.5 from two judges equals 87.5 from four, with no float noise.
    return (-Fraction(sum(entry.scores), len(entry.scores)), -len(entry.scores), entry.submitted_at, entry.entry_id)


def rank_entries(
    entries: Iterable[Scored],
    quotas: Mapping[str, Mapping[str, Mapping[str, int]]],
    *,
    recommend_top: int = 0,
    recommend: Iterable[str] = (),
) -> list[Placing]:
    """Rank each category and group and hand out the awards within its quota.

    Order: the higher mean score first; on equal means, the entry more judges scored; then
    the earlier submission; then the entry id (so the order is total and reproducible).
    The first ``first`` entries get 一等奖, the next ``second`` 二等奖, then ``third``
    三等奖 and ``excellent`` 优秀奖; the rest, and every entry no judge scored, 未获奖.
    Recommended to the next level: the top ``recommend_top`` of each category and group,
    and every entry named in ``recommend``. Returned in category, group, rank order.
    """
    chosen = set(recommend)
    by_pool: dict[tuple[str, str], list[Scored]] = {}
    for entry in entries:
        by_pool.setdefault((entry.category, entry.group), []).append(entry)
    placings: list[Placing] = []
    for category in CATEGORIES:
        for group in GROUPS:
            pool = by_pool.get((category, group), [])
            scored = sorted((e for e in pool if e.scores), key=_key)
            quota = {**DEFAULT_QUOTA, **dict((quotas.get(category) or {}).get(group) or {})}
            awards = [a for a in AWARD_ORDER for _ in range(max(0, quota[a]))]
            for rank, entry in enumerate(scored, start=1):
                award = awards[rank - 1] if rank <= len(awards) else "none"
                mean = round(sum(entry.scores) / len(entry.scores), 2)
                placings.append(Placing(entry.entry_id, category, group, rank, mean, len(entry.scores), award,
                                        rank <= recommend_top or entry.entry_id in chosen))
            unscored = sorted((e for e in pool if not e.scores), key=lambda e: (e.submitted_at, e.entry_id))
            placings += [Placing(e.entry_id, category, group, None, None, 0, "none", e.entry_id in chosen)
                         for e in unscored]
    return placings


def certificate_numbers(placings: Iterable[Placing], *, prefix: str) -> dict[str, str]:
    """Certificate numbers for the awarded entries, in category, group and rank order:
    ``<prefix>-0001`` … (a teacher's certificate adds ``-T``)."""
    awarded = [p for p in placings if p.award != "none"]
    awarded.sort(key=lambda p: (CATEGORIES.index(p.category), GROUPS.index(p.group), p.rank or 0))
    return {p.entry_id: f"{prefix}-{n:04d}" for n, p in enumerate(awarded, start=1)}
