"""The star ladder for rooms (DOMAIN.md "Ratings", after the published Jiangsu ladder). Pure.

Each level adds requirements to the one below; a room's level is the highest whose
requirements, and all lower levels' requirements, are met:

- 1★ full holdings (books ≥ 1,500 volumes and ≥ 500 titles, ≥ 30 periodicals, ≥ 100
  audio-visual items), ≥ 20 m², ≥ 10 seats, open ≥ 5 days a week, satisfaction ≥ 90%.
- 2★ (our choice; the published ladder leaves it open): ≥ 4 reading activities in the
  period, readers ≥ 5% of residents, borrowing rate ≥ 25% — halfway to 3★.
- 3★ ≥ 3,000 volumes, ≥ 30 m², ≥ 20 seats, readers ≥ 10% of residents, borrowing rate ≥ 50%,
  ≥ ¥3,000 a year on new books. shuwu holds no spending figures yet, so that last one is
  skipped (and said so) rather than failed.
- 4★ ≥ 5,000 volumes.

The rules posted, items stamped, loans recorded and data reported of the published 1★ are
checked by inspectors on site, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_STARS = 4
# Printed when a requirement has no data in shuwu (it neither passes nor fails the room).
NO_SPENDING_DATA = "每年购书经费不少于 3,000 元：系统中暂无购书经费数据，此项未计"


@dataclass(frozen=True)
class Requirement:
    level: int
    text: str  # what is required, in Chinese
    check: Callable[[dict[str, Any], dict[str, float | None]], bool]


def _value(metrics: dict[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if isinstance(v, dict):
        v = v.get("value")
    return None if v is None else float(v)


def _at_least(key: str, bound: float) -> Callable[[dict[str, Any], dict[str, float | None]], bool]:
    def check(room: dict[str, Any], values: dict[str, float | None]) -> bool:
        v = values.get(key)
        return v is not None and v >= bound
    return check


def _room_at_least(field: str, bound: float) -> Callable[[dict[str, Any], dict[str, float | None]], bool]:
    def check(room: dict[str, Any], values: dict[str, float | None]) -> bool:
        v = room.get(field)
        return isinstance(v, int | float) and v >= bound
    return check


def open_days_per_week(room: dict[str, Any]) -> int:
    return sum(1 for spans in (room.get("opening_hours") or {}).values() if spans)


LADDER: tuple[Requirement, ...] = (
    Requirement(1, "图书不少于 1,500 册", _at_least("volumes", 1500)),
    Requirement(1, "图书不少于 500 种", _at_least("titles", 500)),
    Requirement(1, "报刊不少于 30 种", _at_least("periodicals", 30)),
    Requirement(1, "电子音像制品不少于 100 件", _at_least("audio_visual", 100)),
    Requirement(1, "面积不少于 20 平方米", _room_at_least("area_m2", 20)),
    Requirement(1, "座位不少于 10 个", _room_at_least("seats", 10)),
    Requirement(1, "每周开放不少于 5 天", lambda room, _: open_days_per_week(room) >= 5),
    Requirement(1, "读者满意率不低于 90%", _at_least("satisfaction_rate", 0.9)),
    Requirement(2, "期间内举办阅读活动不少于 4 次", _at_least("activities_held", 4)),
    Requirement(2, "借阅人数不少于常住人口的 5%", _at_least("readers_share", 0.05)),
    Requirement(2, "图书流通率不低于 25%", _at_least("borrowing_rate", 0.25)),
    Requirement(3, "图书不少于 3,000 册", _at_least("volumes", 3000)),
    Requirement(3, "面积不少于 30 平方米", _room_at_least("area_m2", 30)),
    Requirement(3, "座位不少于 20 个", _room_at_least("seats", 20)),
    Requirement(3, "借阅人数不少于常住人口的 10%", _at_least("readers_share", 0.10)),
    Requirement(3, "图书流通率不低于 50%", _at_least("borrowing_rate", 0.50)),
    Requirement(4, "图书不少于 5,000 册", _at_least("volumes", 5000)),
)
SKIPPED: dict[int, tuple[str, ...]] = {3: (NO_SPENDING_DATA,)}


def star_level(room: dict[str, Any], metrics: dict[str, Any]) -> tuple[int, list[str]]:
    """(stars 0–4, what the next star still needs, in Chinese). ``metrics`` maps a metric key
    to its value or to a Metric dict; a missing value fails the requirement that needs it."""
    values = {k: _value(metrics, k) for k in {"volumes", "titles", "periodicals", "audio_visual",
                                                "satisfaction_rate", "activities_held", "readers_share",
                                                "borrowing_rate"}}
    level = 0
    for n in range(1, MAX_STARS + 1):
        unmet = [r.text for r in LADDER if r.level == n and not r.check(room, values)]
        if unmet:
            return level, unmet
        level = n
    return level, []


def star_detail(room: dict[str, Any], metrics: dict[str, Any]) -> str:
    level, unmet = star_level(room, metrics)
    head = f"达到 {level} 星" if level else "未达到 1 星"
    if level == MAX_STARS:
        return head + "（最高星级）。" + NO_SPENDING_DATA
    notes = [t for texts in SKIPPED.values() for t in texts]
    return f"{head}；升到 {level + 1} 星还需：" + "；".join(unmet) + ("。" + "；".join(notes) if notes else "")
